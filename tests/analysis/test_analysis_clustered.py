"""Participant-clustered analyses against statsmodels' own GEE."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from analysis import NotTested, clustered_difference, gee_vs_chance, participant_counts


def _clustered_counts(seed: int, n_participants: int = 60, sd: float = 0.8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 12, n_participants)
    logit = math.log(0.3 / 0.7) + rng.normal(0, sd, n_participants)
    y = rng.binomial(n, 1 / (1 + np.exp(-logit)))
    return pd.DataFrame({"n": n, "y": y}, index=[f"P{i}" for i in range(n_participants)])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_closed_form_gee_equals_statsmodels(seed):
    counts = _clustered_counts(seed)
    fast = gee_vs_chance(counts, 0.25, engine="closed-form")
    slow = gee_vs_chance(counts, 0.25, engine="statsmodels")
    assert fast.extra["engine"] == "closed-form" and slow.extra["engine"] == "statsmodels"
    assert_allclose(fast.estimate, slow.estimate, rtol=1e-9)
    assert_allclose(fast.extra["icc"], slow.extra["icc"], rtol=1e-7)
    assert_allclose(fast.statistic, slow.statistic, rtol=1e-7)
    assert_allclose(fast.p_value, slow.p_value, rtol=1e-6)


def test_participant_counts_from_answers():
    counts = participant_counts(["b", "a", "a", "b", "b"], [1, 0, 1, 1, 0])
    assert counts.to_dict("index") == {"a": {"n": 2, "y": 1}, "b": {"n": 3, "y": 2}}
    with pytest.raises(ValueError):
        participant_counts(["a"], [2])


def test_design_effect_reflects_clustering():
    clustered = gee_vs_chance(_clustered_counts(4, 200, sd=1.0), 0.25)
    independent = gee_vs_chance(_clustered_counts(4, 200, sd=0.0), 0.25)
    assert clustered.extra["design_effect"] > 1.5 and clustered.extra["icc"] > 0.05
    assert 0.7 < independent.extra["design_effect"] < 1.3
    assert clustered.extra["effective_n"] < clustered.n


def test_clustered_test_is_less_certain_than_naive_binomial():
    from analysis import binomial_vs_chance

    counts = _clustered_counts(5, 80, sd=1.0)
    naive = binomial_vs_chance(int(counts["y"].sum()), int(counts["n"].sum()), 0.25)
    gee = gee_vs_chance(counts, 0.25)
    assert gee.ci[1] - gee.ci[0] > naive.ci[1] - naive.ci[0]


def test_too_few_participants_is_not_tested():
    result = gee_vs_chance(pd.DataFrame({"n": [10] * 5, "y": [3] * 5}), 0.25)
    assert isinstance(result, NotTested) and "participant" in result.reason
    result = gee_vs_chance(pd.DataFrame({"n": [10] * 12, "y": [10] * 12}), 0.25)
    assert isinstance(result, NotTested) and "every answer" in result.reason


def test_clustered_difference_matches_statsmodels_independence_gee():
    rng = np.random.default_rng(7)
    rows = []
    for i in range(40):
        skill = rng.normal(0, 0.9)
        for kind, shift in (("real", 0.0), ("synthetic", 0.2)):
            for _ in range(rng.integers(3, 7)):
                p = 1 / (1 + math.exp(-(-0.2 + shift + skill)))
                rows.append((f"P{i}", kind, int(rng.random() < p)))
    df = pd.DataFrame(rows, columns=["participant", "kind", "correct"])
    real = df[df.kind == "real"]
    synth = df[df.kind == "synthetic"]
    diff, tost = clustered_difference(
        participant_counts(real.participant, real.correct),
        participant_counts(synth.participant, synth.correct),
        small_sample="none",
    )
    exog = sm.add_constant((df["kind"] == "synthetic").astype(float).to_numpy())
    fit = sm.GEE(
        df["correct"].to_numpy(float),
        exog,
        groups=df["participant"],
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Independence(),
    ).fit()
    b0, b1 = fit.params
    p_real, p_synth = 1 / (1 + math.exp(-b0)), 1 / (1 + math.exp(-(b0 + b1)))
    assert_allclose(diff.estimate, p_real - p_synth, rtol=1e-8)
    # Delta method from the logit coefficients to p_real - p_synth.
    grad = np.array([p_real * (1 - p_real) - p_synth * (1 - p_synth), -p_synth * (1 - p_synth)])
    se = math.sqrt(grad @ fit.cov_params() @ grad)
    assert_allclose(diff.extra["se"], se, rtol=1e-6)
    assert_allclose(tost.extra["se"], se, rtol=1e-6)
    assert tost.alternative == "equivalence"
