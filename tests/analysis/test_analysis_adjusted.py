"""Privacy per expert and clustered, disorder-adjusted real vs synthetic, sensitivity."""

import json

import analysis_reference_values as ref
import numpy as np
import pandas as pd
from numpy.testing import assert_allclose
from test_analysis_report import _export

from analysis import (
    build_report,
    exclusion_sensitivity,
    mantel_haenszel_difference,
    per_expert_vs_chance,
    render_markdown,
)


def test_per_expert_exact_binomial_with_holm():
    counts = pd.DataFrame({"n": [10] * 5, "y": [10, 7, 3, 3, 2]})
    table = per_expert_vs_chance(counts, 1 / 3)
    assert_allclose(table["p_value"].iloc[:2], [ref.EXPERT_10_10, ref.EXPERT_7_10], rtol=1e-10)
    # p.adjust(p, "holm"): the smallest p times 5, the next times 4 (running max).
    assert_allclose(table["p_holm"].iloc[:2], [5 * ref.EXPERT_10_10, 4 * ref.EXPERT_7_10], rtol=1e-10)
    assert table["above_chance"].tolist() == [True, False, False, False, False]


def test_report_finds_the_few_experts_who_re_identify_everything():
    # 3 of 24 experts re-identify 10/10; the rest guess. The old report said only
    # "at most 1.9 points above chance" on a set like this.
    people = [(10, 10, 0)] * 3 + [(10, 2, 0)] * 10 + [(10, 3, 0)] * 11
    report = build_report(_export({("reidentification", "latent_average"): people}))
    privacy = report["categories"]["reidentification"]["privacy"]
    assert privacy["per_expert"] == {
        "n_experts": 24,
        "n_above_chance_holm": 3,
        "max_excess": privacy["per_expert"]["max_excess"],
        "method": privacy["per_expert"]["method"],
    }
    assert_allclose(privacy["per_expert"]["max_excess"], 2 / 3)
    assert privacy["clustered_upper"] > privacy["naive_upper"]
    assert any("3 of 24 experts" in f for f in report["findings"])
    assert "3 re-identified above chance" in render_markdown(report)
    json.dumps(report, allow_nan=False)


def test_mantel_haenszel_difference_and_cmh_against_hand_formulas():
    strata = pd.DataFrame({"y1": [30, 10, 45], "n1": [50, 40, 60], "y2": [12, 25, 8], "n2": [40, 60, 10]})
    diff, tost = mantel_haenszel_difference(strata)
    assert_allclose(diff.estimate, ref.MH_RD["difference"], rtol=1e-12)
    assert_allclose(diff.extra["se"], ref.MH_RD["se"], rtol=1e-12)
    assert_allclose(diff.statistic, ref.MH_CMH["statistic"], rtol=1e-9)
    assert_allclose(diff.p_value, ref.MH_CMH["p_value"], rtol=1e-9)
    assert tost.extra["se"] == diff.extra["se"]


def test_mantel_haenszel_in_one_stratum_is_the_crude_difference():
    diff, _ = mantel_haenszel_difference(pd.DataFrame({"y1": [40], "n1": [100], "y2": [30], "n2": [90]}))
    assert_allclose(diff.estimate, 0.4 - 30 / 90, rtol=1e-12)


def _mixed_disorders() -> pd.DataFrame:
    # Accuracy 80% on disorder A and 20% on B for both kinds, but real portraits are
    # mostly B and synthetic mostly A: the crude difference is about -40 points.
    rows = []
    for kind, mix in (("real", {"A": 20, "B": 80}), ("synthetic", {"A": 80, "B": 20})):
        for disorder, n in mix.items():
            acc = 0.8 if disorder == "A" else 0.2
            for i in range(n):
                ok = i < round(acc * n)
                p = i % 20
                rows.append(
                    dict(
                        study="s",
                        participant=f"P{p:02d}",
                        session=f"S{p:02d}",
                        category="diagnosis",
                        position=len(rows) + 1,
                        question=f"{kind}-{disorder}-{i}",
                        disorder=disorder,
                        stimulus_kind=kind,
                        n_options=4,
                        chance=0.25,
                        correct_choice=disorder,
                        choice=disorder if ok else ("B" if disorder == "A" else "A"),
                        outcome="answered",
                        correct=int(ok),
                        time_limit_ms=15000,
                        response_ms=3000,
                        started_at="",
                        answered_at="",
                        seed="1",
                    )
                )
    return pd.DataFrame(rows)


def test_report_flags_crude_and_disorder_adjusted_disagreement():
    from analysis import load_export

    report = build_report(load_export(_mixed_disorders()), margin=0.1)
    diag = report["diagnosis_real_vs_synthetic"]
    assert diag["difference"] < -0.3 and diag["p_value"] < 1e-6
    adj = diag["disorder_adjusted"]
    assert set(adj) >= {"method", "difference", "ci95", "p_value"}
    assert abs(adj["difference"]) < 1e-12 and adj["p_value"] > 0.5
    assert adj["agrees_with_crude"] is False
    assert any("disorder-adjusted" in f for f in report["findings"])


def test_sensitivity_counts_skips_and_timeouts_three_ways():
    s = exclusion_sensitivity(177, 531, 89, 0.25)
    assert_allclose(s["as_wrong"].p_value, ref.SENS_177_620, rtol=1e-9)
    assert_allclose(s["as_chance"].p_value, ref.SENS_199_620, rtol=1e-9)
    assert s["excluded"].n == 531 and s["as_wrong"].n == 620


def test_report_says_when_skips_decide_the_conclusion():
    # 12 experts, 4 of 10 right (40% vs 25%, significant), and 10 skips each:
    # counted as wrong, 20% is no longer above chance.
    report = build_report(_export({("real_vs_synthetic", "mixed"): [(10, 4, 10)] * 12}))
    sens = report["categories"]["real_vs_synthetic"]["sensitivity"]
    assert set(sens) >= {"excluded", "as_wrong", "as_chance"}
    assert all("p_value" in sens[k] for k in ("excluded", "as_wrong", "as_chance"))
    assert sens["excluded"]["p_value"] < 0.05 and sens["conclusion_changes"] is True
    assert any("skips and timeouts" in f for f in report["findings"])
    assert np.isclose(sens["as_wrong"]["accuracy"], 0.2)
