"""Our tests against independently computed reference values (R calls beside each)."""

from fractions import Fraction
from math import comb

import analysis_reference_values as ref
import pytest
from numpy.testing import assert_allclose

from analysis import (
    binomial_vs_chance,
    chi2_two_proportions,
    excess_over_chance_bound,
    fisher_two_proportions,
    proportion_ci,
    tost_two_proportions,
)

TIGHT = dict(rtol=1e-9)


@pytest.mark.parametrize(
    "count, nobs, chance, expected",
    [
        (177, 531, 1 / 4, ref.BINOM_177_531),
        (176, 523, 1 / 3, ref.BINOM_176_523),
        (682, 925, 3 / 4, ref.BINOM_682_925),
        (133, 274, 1 / 4, ref.BINOM_133_274),
    ],
)
def test_binom_test_matches_reference(count, nobs, chance, expected):
    two = binomial_vs_chance(count, nobs, chance)
    greater = binomial_vs_chance(count, nobs, chance, alternative="greater")
    assert_allclose(two.p_value, expected["p_value"], **TIGHT)
    assert_allclose(greater.p_value, expected["p_greater"], **TIGHT)
    assert_allclose(two.ci, expected["ci"], **TIGHT)
    assert two.statistic == count and two.n == nobs


def test_binom_test_reference_recomputed_exactly():
    # Provenance of BINOM_177_531: R's two-sided rule in exact rational arithmetic.
    n, k, p = 531, 177, Fraction(1, 4)
    pmf = [comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(n + 1)]
    bound = pmf[k] * Fraction(10**7 + 1, 10**7)
    assert_allclose(float(sum(x for x in pmf if x <= bound)), ref.BINOM_177_531["p_value"], rtol=1e-13)
    assert_allclose(float(sum(pmf[k:])), ref.BINOM_177_531["p_greater"], rtol=1e-13)


def test_two_sided_binomial_is_not_twice_one_sided():
    # A classic mistake the paper's p-values let us check: 2 * P(X >= k) is larger.
    r = binomial_vs_chance(177, 531, 0.25)
    assert r.p_value < 2 * binomial_vs_chance(177, 531, 0.25, "greater").p_value


def test_upper_bound_on_excess_matches_reference():
    r = excess_over_chance_bound(176, 523, 1 / 3)
    assert_allclose(r.ci[1], ref.UPPER_176_523 - 1 / 3, **TIGHT)
    assert_allclose(r.extra["upper_accuracy"], ref.UPPER_176_523, **TIGHT)
    assert_allclose(r.p_value, ref.BINOM_176_523["p_greater"], **TIGHT)


def test_wilson_interval_matches_reference():
    assert_allclose(proportion_ci(177, 531, method="wilson"), ref.WILSON_177_531, **TIGHT)


@pytest.mark.parametrize(
    "args, correction, expected",
    [
        ((132, 275, 133, 274), True, ref.PROP_132_275_133_274),
        ((60, 100, 40, 100), True, ref.PROP_60_40),
        ((60, 100, 40, 100), False, ref.PROP_60_40_UNCORRECTED),
    ],
)
def test_prop_test_matches_reference(args, correction, expected):
    r = chi2_two_proportions(*args, correction=correction)
    assert_allclose(r.statistic, expected["chi2"], **TIGHT)
    assert_allclose(r.p_value, expected["p_value"], **TIGHT)
    assert_allclose(r.ci, expected["ci"], **TIGHT)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((3, 4, 1, 4), ref.FISHER_TEA),
        ((10, 12, 3, 18), ref.FISHER_10_2_3_15),
    ],
)
def test_fisher_test_matches_reference(args, expected):
    r = fisher_two_proportions(*args)
    assert_allclose(r.p_value, expected["p_value"], **TIGHT)
    assert_allclose(r.statistic, expected["odds_ratio"], rtol=1e-8)
    assert_allclose(r.ci, expected["ci"], rtol=1e-6)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((132, 275, 133, 274), ref.FISHER_132_143_133_141),
        ((60, 100, 40, 100), ref.FISHER_60_40_40_60),
    ],
)
def test_fisher_p_value_matches_exact_sum(args, expected):
    assert_allclose(fisher_two_proportions(*args).p_value, expected["p_value"], **TIGHT)


def test_fisher_large_table_uses_woolf_interval_close_to_conditional():
    r = fisher_two_proportions(13_200, 27_500, 13_300, 27_400)
    assert r.extra["ci_method"] == "Woolf"
    lo, hi = r.ci
    assert lo < r.statistic < hi and hi / lo < 1.1


def test_tost_matches_reference():
    r = tost_two_proportions(132, 275, 133, 274, margin=0.10)
    e = ref.TOST_132_275_133_274_M10
    assert_allclose(r.p_value, e["p_value"], **TIGHT)
    assert_allclose(r.extra["p_lower"], e["p_lower"], **TIGHT)
    assert_allclose(r.extra["p_upper"], e["p_upper"], **TIGHT)
    assert_allclose(r.ci, e["ci"], **TIGHT)
    assert r.extra["equivalent"] is True
    narrow = tost_two_proportions(132, 275, 133, 274, margin=0.05)
    assert_allclose(narrow.p_value, ref.TOST_132_275_133_274_M05["p_value"], **TIGHT)
    assert narrow.extra["equivalent"] is False


def test_tost_with_unequal_proportions():
    r = tost_two_proportions(45, 100, 50, 100, margin=0.15)
    e = ref.TOST_45_100_50_100_M15
    assert_allclose(r.p_value, e["p_value"], **TIGHT)
    assert_allclose(r.extra["p_upper"], e["p_upper"], **TIGHT)
    assert_allclose(r.ci, e["ci"], **TIGHT)


def test_tost_rejects_exactly_when_interval_inside_margins():
    for margin in (0.06, 0.07, 0.08, 0.1):
        r = tost_two_proportions(132, 275, 133, 274, margin=margin)
        inside = -margin < r.ci[0] and r.ci[1] < margin
        assert r.extra["equivalent"] == inside


@pytest.mark.parametrize(
    "call",
    [
        lambda: binomial_vs_chance(5, 4, 0.5),
        lambda: binomial_vs_chance(-1, 4, 0.5),
        lambda: binomial_vs_chance(1, 0, 0.5),
        lambda: binomial_vs_chance(1, 4, 1.0),
        lambda: binomial_vs_chance(1.5, 4, 0.5),
        lambda: binomial_vs_chance(1, 4, 0.5, alternative="bigger"),
        lambda: proportion_ci(1, 4, method="wald"),
        lambda: tost_two_proportions(1, 4, 2, 4, margin=0),
        lambda: chi2_two_proportions(4, 4, 4, 4),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_chi2_warns_on_small_expected_counts():
    with pytest.warns(UserWarning, match="expected count"):
        chi2_two_proportions(1, 6, 4, 7)


# --- the provenance of the reference values, made executable ----------------------------------------
BINOMIAL_REFERENCES = [
    (177, 531, Fraction(1, 4), ref.BINOM_177_531),
    (176, 523, Fraction(1, 3), ref.BINOM_176_523),
    (682, 925, Fraction(3, 4), ref.BINOM_682_925),
    (133, 274, Fraction(1, 4), ref.BINOM_133_274),
]


@pytest.mark.parametrize("count, nobs, chance, expected", BINOMIAL_REFERENCES)
def test_binomial_reference_p_values_are_rs_rule_in_exact_arithmetic(count, nobs, chance, expected):
    pmf = [comb(nobs, j) * chance**j * (1 - chance) ** (nobs - j) for j in range(nobs + 1)]
    bound = pmf[count] * Fraction(10**7 + 1, 10**7)  # R's relErr in binom.test
    assert_allclose(float(sum(x for x in pmf if x <= bound)), expected["p_value"], rtol=1e-12)
    assert_allclose(float(sum(pmf[count:])), expected["p_greater"], rtol=1e-12)


@pytest.mark.parametrize("count, nobs, chance, expected", BINOMIAL_REFERENCES)
def test_clopper_pearson_reference_ends_leave_two_and_a_half_percent_in_each_tail(count, nobs, chance, expected):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    low, high = (mpmath.mpf(x) for x in expected["ci"])

    def upper_tail(p):  # P(X >= count | p)
        return mpmath.fsum(mpmath.binomial(nobs, j) * p**j * (1 - p) ** (nobs - j) for j in range(count, nobs + 1))

    def lower_tail(p):  # P(X <= count | p)
        return mpmath.fsum(mpmath.binomial(nobs, j) * p**j * (1 - p) ** (nobs - j) for j in range(count + 1))

    assert abs(float(upper_tail(low)) - 0.025) < 1e-12
    assert abs(float(lower_tail(high)) - 0.025) < 1e-12


def test_wilson_reference_is_the_closed_form():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    k, n = mpmath.mpf(177), mpmath.mpf(531)
    z = mpmath.sqrt(2) * mpmath.erfinv(mpmath.mpf("0.95"))
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * mpmath.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert_allclose([float(centre - half), float(centre + half)], ref.WILSON_177_531, rtol=1e-12)
