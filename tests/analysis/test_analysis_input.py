"""Inputs a statistician actually has: delimiters, encodings, XLSX/JSON, bad rows, bad paths."""

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import ExportError, load_export
from tests.cli import run_analysis

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_it_sniffs_the_delimiter(tmp_path, rows, sep):
    path = tmp_path / "export.csv"
    rows.to_csv(path, index=False, sep=sep)
    assert load_export(path)["correct"].sum() == load_export(FIXTURE)["correct"].sum()


def test_latin1_is_read_with_a_note_naming_the_line(tmp_path, rows):
    frame = rows.assign(study="gestaltgan-2023", clock_rule="served")
    frame.loc[4, "disorder"] = "Noonan-é"
    path = tmp_path / "latin1.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    df = load_export(path)
    assert df["disorder"].iat[4] == "Noonan-é"
    assert "line 6" in df.attrs["read_note"] and "Latin-1" in df.attrs["read_note"]


def test_xlsx_and_json_exports_of_the_platform_are_read(tmp_path, rows):
    typed = load_export(FIXTURE).assign(clock_rule="served")
    xlsx, js = tmp_path / "answers.xlsx", tmp_path / "answers.json"
    typed.head(200).to_excel(xlsx, index=False, sheet_name="answers")
    typed.to_json(js, orient="records", indent=2)  # what survey/export/formats.py writes
    for path, n in ((xlsx, 200), (js, len(rows))):
        df = load_export(path)
        assert len(df) == n and "clock_rule" in df.columns
        assert df["correct"].sum() == typed["correct"].head(n).sum()


def test_duplicated_session_position_is_refused(rows):
    frame = pd.concat([rows, rows.iloc[[10]]], ignore_index=True)
    with pytest.raises(ExportError, match="twice") as err:
        load_export(frame)
    assert err.value.row == len(frame) and err.value.column == "position"
    assert "first at row 11" in str(err.value)


def test_response_time_far_beyond_the_limit_is_refused(rows):
    i = int(rows.index[rows["outcome"] == "answered"][0])
    frame = rows.copy()
    frame.loc[i, "response_ms"] = "999999"
    with pytest.raises(ExportError, match="time limit") as err:
        load_export(frame)
    assert (err.value.column, err.value.row) == ("response_ms", i + 1)


@pytest.mark.parametrize("target", ["dir", "missing"])
def test_bad_paths_get_one_line_and_exit_2(tmp_path, target):
    path = tmp_path if target == "dir" else tmp_path / "nope.csv"
    result = run_analysis("report", str(path), "--json", str(tmp_path / "o.json"), "--no-figures")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert ("directory" if target == "dir" else "not found") in result.stderr


def test_duplicate_rows_exit_2_with_one_line(tmp_path, rows):
    bad = tmp_path / "dup.csv"
    pd.concat([rows, rows.iloc[[3]]]).to_csv(bad, index=False)
    result = run_analysis("report", str(bad), "--json", str(tmp_path / "o.json"), "--no-figures")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "column 'position'" in result.stderr and "row 1861" in result.stderr


def test_alpha_labels_intervals_and_provenance_is_written(tmp_path):
    out = tmp_path / "o.json"
    result = run_analysis("report", str(FIXTURE), "--json", str(out), "--no-figures", "--alpha", "0.01")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert "98% CI" in data["diagnosis_real_vs_synthetic"]["statement"]
    md = (tmp_path / "o.md").read_text()
    assert "98% CI of the difference" in md and "90% CI" not in md
    import hashlib

    prov = data["provenance"]
    assert prov["input_sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert prov["version"] == "0.1.0"
    assert prov["command"].startswith("python -m analysis report ") and "--alpha 0.01" in prov["command"]
    assert prov["input_sha256"] in md
