"""The paper's published numbers, reproduced from the shipped example export."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import (
    binomial_vs_chance,
    build_report,
    category_summary,
    chi2_two_proportions,
    exclusion_summary,
    fisher_two_proportions,
    kind_summary,
    load_export,
    tost_two_proportions,
)
from analysis.paper_fixture import PAPER_COUNTS

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


@pytest.fixture(scope="module")
def report():
    return build_report(load_export(FIXTURE))


def test_fixture_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "paper.csv"
    subprocess.run(
        [sys.executable, "-m", "analysis.paper_fixture", "--out", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    assert out.read_bytes() == FIXTURE.read_bytes()


def test_fixture_reproduces_the_papers_exclusions():
    df = load_export(FIXTURE)
    assert exclusion_summary(df) == {"n_presented": 1860, "n_skipped": 106, "n_timeout": 151, "n_analysed": 1603}
    assert df["session"].nunique() == 63


def test_fixture_reproduces_the_papers_percentages():
    df = load_export(FIXTURE)
    acc = category_summary(df)["accuracy"]
    assert round(100 * acc["real_vs_synthetic"], 1) == 33.3
    assert round(100 * acc["reidentification"], 1) == 33.7
    kinds = kind_summary(df)["accuracy"]
    assert round(100 * kinds["real"], 1) == 48.0
    assert round(100 * kinds["synthetic"], 1) == 48.5


def test_report_reproduces_published_p_values(report):
    cats = report["categories"]
    # "1.9 10-5 < 0.05, binomial test" and "0.889 > 0.05, binomial test"
    assert f"{cats['real_vs_synthetic']['binomial']['p_value']:.2g}" == "1.9e-05"
    assert round(cats["reidentification"]["binomial"]["p_value"], 3) == 0.889


def test_published_p_values_are_two_sided():
    # The one-sided p-values would be 1.0e-5 and 0.455: the paper's are two-sided.
    assert f"{binomial_vs_chance(177, 531, 0.25, 'greater').p_value:.2g}" == "1e-05"
    assert round(binomial_vs_chance(176, 523, 1 / 3, "greater").p_value, 3) == 0.455


def test_category_three_p_of_0_001_matches_no_test_of_the_reported_accuracies():
    # The claims docs/statistics.md (The paper's category-3 "p = 0.001") makes, checked.
    real, synth = PAPER_COUNTS[("diagnosis", "real")], PAPER_COUNTS[("diagnosis", "synthetic")]
    vs_chance = binomial_vs_chance(synth.correct, synth.answered, 0.25).p_value
    assert vs_chance < 1e-15  # "p < 0.001" is true, "p = 0.001" is not
    args = (real.correct, real.answered, synth.correct, synth.answered)
    assert chi2_two_proportions(*args).p_value > 0.9  # a difference test is nowhere near
    assert fisher_two_proportions(*args).p_value > 0.9
    assert 0.01 < tost_two_proportions(*args, margin=0.10).p_value < 0.02
    assert 0.0009 < tost_two_proportions(*args, margin=0.137).p_value < 0.0011


def test_report_json_has_the_design_keys(report):
    for entry in report["categories"].values():
        for key in ("n_presented", "n_skipped", "n_timeout", "n_answered", "n_correct", "accuracy", "chance"):
            assert key in entry
        assert set(entry["binomial"]) >= {"p_value", "p_value_greater", "ci95"}
    diag = report["diagnosis_real_vs_synthetic"]
    assert set(diag) >= {"real", "synthetic", "chi2", "p_value", "fisher_p_value"}
    assert diag["real"]["n_answered"] == 275 and diag["synthetic"]["n_correct"] == 133
    json.dumps(report, allow_nan=False)


def test_report_states_equivalence_and_privacy_bound(report):
    diag = report["diagnosis_real_vs_synthetic"]
    assert diag["tost"]["extra"]["equivalent"] is True
    assert "equivalent" in diag["statement"]
    bound = report["categories"]["reidentification"]["excess_over_chance"]
    assert 0.03 < bound["upper_bound_95"] < 0.045
