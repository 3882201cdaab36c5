"""Counts, per-disorder multiplicity control and response times."""

from pathlib import Path

import analysis_reference_values as ref
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis import ExportError, category_summary, disorder_breakdown, load_export, response_time_summary
from analysis.benchmark import synthetic_export

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "paper_export.csv"


def _disorder_export(p_values_like: list[tuple[int, int]]) -> pd.DataFrame:
    """Diagnosis answers: (correct, answered) per disorder D0, D1, ..."""
    rows = []
    for d, (k, n) in enumerate(p_values_like):
        for i in range(n):
            right = f"D{d}"
            rows.append(
                dict(
                    study="s",
                    participant=f"P{i % 7}",
                    session=f"S{i % 7}",
                    category="diagnosis",
                    position=len(rows) + 1,
                    question=f"Q{d}-{i}",
                    disorder=right,
                    stimulus_kind="real",
                    n_options=4,
                    chance=0.25,
                    correct_choice=right,
                    choice=right if i < k else "X",
                    outcome="answered",
                    correct=int(i < k),
                    time_limit_ms=15000,
                    response_ms=1000 + i,
                    started_at="",
                    answered_at="",
                    seed="1",
                )
            )
    return load_export(pd.DataFrame(rows))


def test_holm_and_bh_match_p_adjust():
    df = _disorder_export([(9, 20), (7, 20), (3, 20), (12, 30), (2, 5)])
    table = disorder_breakdown(df)
    tested = table[table["p_value"].notna()]
    from statsmodels.stats.multitest import multipletests

    assert_allclose(tested["p_holm"], multipletests(tested["p_value"], method="holm")[1])
    assert_allclose(tested["p_bh"], multipletests(tested["p_value"], method="fdr_bh")[1])
    small = table[table["disorder"] == "D4"].iloc[0]
    assert pd.isna(small["p_value"]) and "fewer than 10" in small["reason"]


def test_holm_adjusted_reproduces_p_adjust_by_hand_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from analysis.multiplicity import holm_adjusted

    assert_allclose(holm_adjusted(ref.PADJUST_P), ref.PADJUST_HOLM)
    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 20, 200):
        p = rng.random(m) ** 3  # many small values
        p[: m // 3] = p[0]  # ties keep their order
        assert_allclose(holm_adjusted(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    assert holm_adjusted([]).size == 0
    for bad in ([0.1, float("nan")], [1.5], [[0.1, 0.2]]):
        with pytest.raises(ValueError, match="p-values"):
            holm_adjusted(bad)


def test_multipletests_reproduces_p_adjust_by_hand():
    from statsmodels.stats.multitest import multipletests

    assert_allclose(multipletests(ref.PADJUST_P, method="holm")[1], ref.PADJUST_HOLM)
    assert_allclose(multipletests(ref.PADJUST_P, method="fdr_bh")[1], ref.PADJUST_BH)


def test_response_times_by_category_and_result():
    df = load_export(FIXTURE)
    table = response_time_summary(df)
    assert table["n"].sum() == (df["outcome"] != "timeout").sum()
    row = table[(table["category"] == "diagnosis") & (table["result"] == "correct")].iloc[0]
    times = df[(df["category"] == "diagnosis") & (df["correct"] == 1)]["response_ms"]
    assert row["median"] == times.median() and row["n"] == len(times)


def test_mixed_option_counts_in_a_category_are_refused():
    df = load_export(synthetic_export(90))
    df.loc[35, ["n_options", "chance"]] = [5, 0.2]
    with pytest.raises(ExportError, match="mixes n_options") as err:
        category_summary(df)
    assert err.value.row == 36 and err.value.column == "n_options"


def test_synthetic_export_is_valid_and_sized():
    df = load_export(synthetic_export(3000, seed=3))
    assert len(df) == 3000
    summary = category_summary(df)
    assert (summary["n_presented"] == 1000).all()
