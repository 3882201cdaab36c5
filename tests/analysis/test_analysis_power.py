"""Study planning: exact power against brute force, and the plan's minimality."""

from fractions import Fraction
from math import comb

import pytest

from analysis import binomial_vs_chance, exact_binomial_power, plan_study


@pytest.mark.parametrize(
    "n, chance, accuracy, alternative",
    [
        (40, 0.25, 0.45, "two-sided"),
        (57, 1 / 3, 0.5, "two-sided"),
        (30, 0.25, 0.4, "greater"),
    ],
)
def test_exact_power_equals_brute_force(n, chance, accuracy, alternative):
    # Reject where binomial_vs_chance rejects; sum the true pmf there exactly.
    q = Fraction(accuracy)
    brute = sum(
        comb(n, k) * q**k * (1 - q) ** (n - k)
        for k in range(n + 1)
        if binomial_vs_chance(k, n, chance, alternative).p_value <= 0.05
    )
    assert exact_binomial_power(n, chance, accuracy, 0.05, alternative) == pytest.approx(float(brute), rel=1e-9)


def test_plan_is_the_smallest_n_that_reaches_the_power():
    plan = plan_study(0.10, 0.25, power=0.8, icc=0.0)
    assert plan.achieved_power >= 0.8
    assert exact_binomial_power(plan.answers_exact - 1, 0.25, 0.35) < 0.8
    assert plan.design_effect == 1.0 and plan.participants == -(-plan.answers_exact // 10)


def test_clustering_and_exclusions_inflate_the_plan():
    base = plan_study(0.05, 0.25, icc=0.0)
    clustered = plan_study(0.05, 0.25, icc=0.1, questions_per_participant=10, answer_rate=0.862)
    assert clustered.design_effect == pytest.approx(1.9)
    assert clustered.answers_clustered == -(-base.answers_exact * 19 // 10)
    assert clustered.questions_presented >= clustered.answers_clustered / 0.862
    assert clustered.participants > base.participants


def test_papers_category_one_had_ample_power():
    # 531 answers give >98% power to detect the 33.3% the paper found against 25%.
    assert exact_binomial_power(531, 0.25, 1 / 3) > 0.98


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(excess=0.0, chance=0.25),
        dict(excess=0.8, chance=0.25),
        dict(excess=0.1, chance=0.25, icc=1.0),
        dict(excess=0.1, chance=0.25, answer_rate=0.0),
    ],
)
def test_bad_plans_raise(kwargs):
    with pytest.raises(ValueError):
        plan_study(**kwargs)
