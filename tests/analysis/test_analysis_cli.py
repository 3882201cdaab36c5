"""python -m analysis: outputs, exit status, and no partial files on bad input."""

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.tables import TABLE_NAMES
from tests.cli import run_analysis

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


@pytest.mark.slow
def test_report_writes_json_markdown_and_figures(tmp_path):
    out = tmp_path / "o.json"
    result = run_analysis(
        "report", str(FIXTURE), "--json", str(out), "--out-dir", str(tmp_path / "rep"), "--margin", "0.05"
    )
    assert result.returncode == 0, result.stderr
    assert "p = 1.91e-05" in result.stdout and "p = 0.889" in result.stdout
    data = json.loads(out.read_text())
    assert data["margin"] == 0.05
    assert data["diagnosis_real_vs_synthetic"]["tost"]["extra"]["equivalent"] is False
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    tables = [f"o_{name}.csv" for name in TABLE_NAMES]
    figures = [f"o_{fig}.{fmt}" for fig in ("accuracy", "response_times") for fmt in ("pdf", "png", "svg")]
    assert names == sorted(["o.md", *figures, *tables])
    md = (tmp_path / "rep" / "o.md").read_text()
    assert "1.91e-05" in md and "0.889" in md and "![accuracy](o_accuracy.png)" in md


@pytest.mark.parametrize(
    "change, column",
    [
        (lambda df: df.drop(columns="correct_choice"), "correct_choice"),
        (lambda df: df.assign(category=df["category"].replace("diagnosis", "diagnosys")), "category"),
        (lambda df: df.assign(outcome=df["outcome"].replace("timeout", "late")), "outcome"),
        (lambda df: df.assign(correct=df["correct"].replace({"1": "0"})), "correct"),
        (lambda df: df.assign(category=df["category"].where(df.index != 4, "")), "category"),
    ],
)
def test_bad_export_exits_non_zero_and_writes_nothing(tmp_path, change, column):
    frame = change(pd.read_csv(FIXTURE, dtype=str, keep_default_na=False))
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out_dir = tmp_path / "out"
    result = run_analysis("report", str(bad), "--json", str(out_dir / "o.json"))
    assert result.returncode == 2
    assert f"column {column!r}" in result.stderr
    if column != "correct_choice":  # a missing column has no row to name
        assert "row " in result.stderr
    assert "Traceback" not in result.stderr
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_failure_while_writing_leaves_no_partial_files(tmp_path, monkeypatch):
    from analysis import cli

    def explode(report, figures):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cli, "render_markdown", explode)
    with pytest.raises(RuntimeError):
        cli.main(["report", str(FIXTURE), "--json", str(tmp_path / "o.json"), "--no-figures"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_report_on_one_study_of_several(tmp_path):
    frame = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
    other = frame.assign(study="pilot")
    both = tmp_path / "both.csv"
    pd.concat([frame, other]).to_csv(both, index=False)
    result = run_analysis("report", str(both), "--json", str(tmp_path / "o.json"), "--no-figures")
    assert result.returncode == 2 and "--study" in result.stderr
    result = run_analysis("report", str(both), "--json", str(tmp_path / "o.json"), "--no-figures", "--study", "pilot")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "o.json").read_text())["study"] == "pilot"


def test_small_category_gets_counts_and_a_reason(tmp_path):
    frame = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
    keep = (frame["category"] != "reidentification") | (frame["participant"] == "P001")
    small = tmp_path / "small.csv"
    frame[keep].to_csv(small, index=False)
    result = run_analysis("report", str(small), "--json", str(tmp_path / "o.json"), "--no-figures")
    assert result.returncode == 0, result.stderr
    reid = json.loads((tmp_path / "o.json").read_text())["categories"]["reidentification"]
    assert reid["n_presented"] == 10 and reid["binomial"]["p_value"] is None
    assert "at least 10" in reid["binomial"]["reason"]
    assert reid["clustered"]["p_value"] is None and "participant" in reid["clustered"]["reason"]


def test_power_prints_plan_and_writes_json(tmp_path):
    result = run_analysis(
        "power",
        "--chance",
        "0.25",
        "--excess",
        "0.05",
        "--icc",
        "0.05",
        "--questions",
        "10",
        "--json",
        str(tmp_path / "plan.json"),
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["answers_exact"] == 607 and plan["participants"] == 89
    assert "607 answers" in result.stdout


def test_power_refuses_impossible_targets():
    result = run_analysis("power", "--chance", "0.9", "--excess", "0.2")
    assert result.returncode == 2 and "excess" in result.stderr
