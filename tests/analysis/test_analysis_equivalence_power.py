"""Equivalence planned, not assumed: TOST power, the smallest margin shown, the plan."""

import json
from pathlib import Path

import analysis_reference_values as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose

from analysis import (
    build_report,
    load_export,
    minimum_equivalence_margin,
    plan_equivalence,
    plan_study,
    tost_from_estimate,
    tost_power,
    tost_two_proportions,
)
from analysis.equivalence_power import DEFAULT_MARGIN, MARGIN_RATIONALE
from analysis.power import DEFAULT_PLANNING_ICC
from tests.cli import run_analysis

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "paper_export.csv"


def test_tost_power_matches_reference():
    assert_allclose(tost_power(0.48, 0.48, 275, 274, 0.10), ref.TOST_POWER_48_275_274_M10, rtol=1e-10)
    assert_allclose(tost_power(0.48, 0.485, 150, 402, 0.10), ref.TOST_POWER_48_485_150_402_M10, rtol=1e-10)


def test_tost_power_is_the_rejection_rate_of_the_test_werun_analysis():
    # Monte Carlo over binomial draws of tost_two_proportions itself: 4000 replications,
    # SE of a rate near 0.5 is 0.008; the normal approximation is good at these n.
    rng = np.random.default_rng(2)
    y1, y2 = rng.binomial(275, 0.48, 4000), rng.binomial(274, 0.48, 4000)
    rate = np.mean(
        [tost_two_proportions(int(a), 275, int(b), 274, 0.10).extra["equivalent"] for a, b in zip(y1, y2, strict=True)]
    )
    assert abs(rate - tost_power(0.48, 0.48, 275, 274, 0.10)) < 0.03


def test_minimum_margin_is_where_equivalence_starts():
    delta, se = -0.0054, 0.0426
    m = minimum_equivalence_margin(delta, se)
    assert tost_from_estimate(delta, se, m + 1e-9).extra["equivalent"]
    assert not tost_from_estimate(delta, se, m - 1e-9).extra["equivalent"]
    m_t = minimum_equivalence_margin(delta, se, df=11)
    assert tost_from_estimate(delta, se, m_t + 1e-9, df=11).extra["equivalent"]
    assert not tost_from_estimate(delta, se, m_t - 1e-9, df=11).extra["equivalent"]


def test_equivalence_plan_is_the_smallest_n_and_clustering_inflates_it():
    plan = plan_equivalence(0.48, margin=0.10, icc=0.0)
    n = plan.answers_per_kind
    assert tost_power(0.48, 0.48, n, n, 0.10) >= 0.8 > tost_power(0.48, 0.48, n - 1, n - 1, 0.10)
    clustered = plan_equivalence(0.48, margin=0.10, icc=0.15, questions_per_participant=5, answer_rate=0.862)
    assert clustered.design_effect == pytest.approx(1.6)
    m = clustered.answers_per_kind_clustered
    assert tost_power(0.48, 0.48, m, m, 0.10, design_effect=1.6) >= 0.8
    assert tost_power(0.48, 0.48, m - 1, m - 1, 0.10, design_effect=1.6) < 0.8
    assert clustered.participants * 10 >= 2 * m / 0.862
    with pytest.raises(ValueError, match="margin"):
        plan_equivalence(0.48, margin=0.05, difference=0.06)


@pytest.mark.parametrize(
    ("design", "named"),
    [
        (dict(questions_per_participant=0), "questions_per_participant"),
        (dict(icc=1.0), "icc"),
        (dict(answer_rate=0.0), "answer_rate"),
    ],
)
def test_both_planners_refuse_an_impossible_design_by_name(design, named):
    with pytest.raises(ValueError, match=named):
        plan_equivalence(0.48, margin=0.10, **design)
    with pytest.raises(ValueError, match=named):
        plan_study(0.05, 0.25, **design)


def test_planning_icc_default_is_what_studies_show():
    assert 0.075 <= DEFAULT_PLANNING_ICC <= 0.20
    assert plan_study(0.05, 0.25).icc == DEFAULT_PLANNING_ICC


def test_power_plans_the_equivalence_test_from_the_command_line(tmp_path):
    result = run_analysis(
        "power",
        "--equivalence",
        "--accuracy",
        "0.48",
        "--margin",
        "0.10",
        "--icc",
        "0",
        "--json",
        str(tmp_path / "plan.json"),
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["answers_per_kind"] == plan_equivalence(0.48, icc=0.0).answers_per_kind
    assert f"{plan['answers_per_kind']} per kind" in result.stdout
    missing = run_analysis("power", "--equivalence")
    assert missing.returncode == 2 and "--accuracy" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    default = run_analysis("power", "--chance", "0.25", "--excess", "0.05", "--json", str(tmp_path / "p.json"))
    assert default.returncode == 0, default.stderr
    assert json.loads((tmp_path / "p.json").read_text())["icc"] == DEFAULT_PLANNING_ICC


def test_report_states_margin_source_power_and_minimum_margin(tmp_path):
    report = build_report(load_export(FIXTURE))
    plan = report["diagnosis_real_vs_synthetic"]["equivalence_power"]
    assert plan["margin"] == DEFAULT_MARGIN and plan["margin_source"] == MARGIN_RATIONALE
    assert_allclose(
        plan["achieved_power"], tost_power(plan["assumed_accuracy"], plan["assumed_accuracy"], 275, 274, 0.10)
    )
    tost = report["diagnosis_real_vs_synthetic"]["tost"]
    assert_allclose(plan["minimum_margin"], max(abs(tost["ci"][0]), abs(tost["ci"][1])))
    assert plan["achieved_power_clustered"] < plan["achieved_power"]
    assert any("power" in f for f in report["findings"])
    out = tmp_path / "o.json"
    result = run_analysis("report", str(FIXTURE), "--json", str(out), "--no-figures", "--margin", "0.08")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert "given on the command line" in data["margin_source"]
    assert "--margin 0.08" in (tmp_path / "o.md").read_text()
