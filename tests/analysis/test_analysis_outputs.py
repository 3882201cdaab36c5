"""Publishable outputs: tidy CSV tables, vector figures, every documented JSON key, flagged times."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_analysis_report import _export

from analysis import build_report, implausible_times, load_export
from analysis.figures import response_time_figure
from analysis.tables import TABLE_NAMES
from tests.cli import run_analysis

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = run_analysis("report", str(FIXTURE), "--json", str(out / "o.json"))
    assert result.returncode == 0, result.stderr
    return out


def test_out_dir_holds_one_tidy_csv_per_table(outputs):
    for name in TABLE_NAMES:
        assert (outputs / f"o_{name}.csv").exists(), name
    data = json.loads((outputs / "o.json").read_text())
    accuracy = pd.read_csv(outputs / "o_table_accuracy.csv").set_index("category")
    for cat, entry in data["categories"].items():
        assert accuracy.loc[cat, "n_correct"] == entry["n_correct"]
        assert accuracy.loc[cat, "p_value"] == pytest.approx(entry["binomial"]["p_value"], rel=1e-12)
    estimands = pd.read_csv(outputs / "o_table_estimands.csv")
    mixed = estimands[
        (estimands["analysis"] == "random-intercept logistic") & (estimands["category"] == "reidentification")
    ].iloc[0]
    assert mixed["p_value"] == pytest.approx(data["categories"]["reidentification"]["mixed"]["p_value"], rel=1e-12)
    flagged = pd.read_csv(outputs / "o_table_implausible_times.csv")
    assert len(flagged) == data["implausible_times"]["n_too_fast"] + data["implausible_times"]["n_beyond_limit"]


def test_figures_are_written_as_png_svg_and_pdf(outputs):
    for figure in ("accuracy", "response_times"):
        assert (outputs / f"o_{figure}.png").read_bytes()[:4] == b"\x89PNG"
        assert (outputs / f"o_{figure}.pdf").read_bytes()[:5] == b"%PDF-"
        assert "<svg" in (outputs / f"o_{figure}.svg").read_text()


def test_accuracy_figure_draws_clustered_intervals_dark_and_naive_light(tmp_path, monkeypatch):
    import matplotlib.axes

    from analysis.figures import accuracy_figure

    report = build_report(load_export(FIXTURE))
    drawn = []
    original = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, yerr=None, **kwargs):
        drawn.append((round(y[0] - yerr[0][0], 9), round(y[0] + yerr[1][0], 9), kwargs.get("alpha", 1.0)))
        return original(self, x, y, yerr=yerr, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    accuracy_figure(report, tmp_path / "a.png")
    diag = report["diagnosis_real_vs_synthetic"]
    entries = [*report["categories"].values(), diag["real"], diag["synthetic"]]
    for entry in entries:
        naive = tuple(round(v, 9) for v in entry["binomial"]["ci95"])
        clustered = tuple(round(v, 9) for v in entry["clustered"]["ci95"])
        assert (*clustered, 1.0) in drawn and (*naive, 0.3) in drawn


def test_response_time_figure_draws_each_categorys_time_limit(tmp_path):
    report = build_report(load_export(FIXTURE))
    svg = response_time_figure(report, tmp_path / "rt.svg").read_text()
    assert "time limit" in svg and "limit + grace" in svg  # the legend, as text
    report["time_limits_ms"] = {}
    assert "time limit" not in response_time_figure(report, tmp_path / "none.svg").read_text()


def _documented_keys() -> list[str]:
    page = (ROOT / "docs" / "exports.md").read_text()
    section = page.split("## The analysis report's JSON", 1)[1]
    listed = "\n".join(line for line in section.splitlines() if line.startswith(("- ", "  ")))
    keys = []
    # A key is a backticked path from the report's root (`.p_value` alone is a suffix).
    for path in re.findall(r"`([a-z_<>]+(?:\.[a-z_<>]+)*(?:\.\{[a-z_, 0-9]+\})?)`", listed):
        head, _, tail = path.partition(".{")
        names = [n.strip() for n in tail.rstrip("}").split(",")] if tail else [None]
        keys += [f"{head}.{n}" if n else head for n in names]
    return keys


def test_every_documented_json_key_exists(outputs):
    data = json.loads((outputs / "o.json").read_text())
    keys = _documented_keys()
    assert len(keys) > 40 and "categories.<category>.mixed.p_value" in keys
    for key in keys:
        for cat in data["categories"] if "<category>" in key else [None]:
            node = data
            for part in key.replace("<category>", cat or "").split("."):
                assert isinstance(node, dict) and part in node, (key, part)
                node = node[part]
    for entry in data["categories"].values():
        for variant in ("excluded", "as_wrong", "as_chance", "without_implausible_times"):
            assert "p_value" in entry["sensitivity"][variant]


def test_implausible_times_are_flagged_counted_and_named():
    people = [(10, 4, 1)] * 12
    df = _export({("real_vs_synthetic", "mixed"): people}).copy()
    df.loc[0, "response_ms"] = 350.0  # faster than anyone can look
    df.loc[1, "response_ms"] = 30000.0 + 2000 + 1  # past limit + grace
    times = implausible_times(df)
    assert times.summary()["n_too_fast"] == 1 and times.summary()["n_beyond_limit"] == 1
    assert times.flags["position"].tolist() == [df.loc[0, "position"], df.loc[1, "position"]]
    report = build_report(df)
    assert report["implausible_times"]["n_too_fast"] == 1
    entry = report["categories"]["real_vs_synthetic"]
    assert entry["implausible_times"] == {"n_too_fast": 1, "n_beyond_limit": 1}
    kept = entry["sensitivity"]["without_implausible_times"]
    assert kept["n_answered"] == entry["n_answered"] - 2 and kept["n_dropped"] == 2
    assert any("faster than 1000 ms" in f for f in report["findings"])
    assert build_report(df, grace_ms=5000)["implausible_times"]["n_beyond_limit"] == 0
