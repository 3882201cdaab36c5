"""The subject-specific model: random-intercept logistic ML against independent quadrature."""

import math

import analysis_reference_values as ref
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import integrate, special, stats
from test_analysis_report import _export

from analysis import (
    NotTested,
    build_report,
    gee_vs_chance,
    random_intercept_loglik,
    random_intercept_vs_chance,
    render_markdown,
)


def _counts(spec: dict) -> pd.DataFrame:
    return pd.DataFrame({"n": spec["n"], "y": spec["y"]})


def _quad_loglik(spec: dict, beta: float, sigma: float) -> float:
    """Each expert's marginal likelihood by scipy.integrate.quad: no Gauss-Hermite at all."""
    total = 0.0
    for n, y in zip(spec["n"], spec["y"], strict=True):

        def integrand(z, n=n, y=y):
            p = special.expit(beta + sigma * z)
            return p**y * (1 - p) ** (n - y) * stats.norm.pdf(z)

        total += math.log(integrate.quad(integrand, -np.inf, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0])
    return total


@pytest.mark.parametrize("spec", [ref.MIXED_A, ref.MIXED_B, ref.MIXED_C], ids="ABC")
def test_fit_matches_independent_reference(spec):
    r = random_intercept_vs_chance(_counts(spec), spec["chance"])
    assert_allclose(r.extra["logit"], spec["beta"], rtol=1e-6)
    assert_allclose(r.extra["sigma"], spec["sigma"], rtol=1e-5, atol=1e-4)
    assert_allclose(r.extra["loglik"], spec["loglik"], rtol=1e-9)
    assert_allclose(r.extra["logit_se"], spec["se"], rtol=2e-6)
    assert_allclose(r.p_value, spec["p_lrt"], rtol=1e-6)
    assert_allclose(r.ci, spec["ci"], rtol=1e-6)
    assert_allclose(r.estimate, special.expit(spec["beta"]), rtol=1e-6)
    z = (r.extra["logit"] - special.logit(spec["chance"])) / r.extra["logit_se"]
    assert_allclose(r.extra["wald_p_value"], 2 * stats.norm.sf(abs(z)), rtol=1e-9)


@pytest.mark.parametrize("spec", [ref.MIXED_B, ref.MIXED_C], ids="BC")
def test_reference_optimum_is_a_maximum_of_the_quadrature_likelihood(spec):
    # Provenance, rechecked on every run: the stored logLik is the quad integral at the
    # stored (beta, sigma), and moving either parameter lowers it.
    beta, sigma = spec["beta"], spec["sigma"]
    at = _quad_loglik(spec, beta, sigma)
    assert_allclose(at, spec["loglik"], rtol=1e-10)
    for db, ds in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
        assert _quad_loglik(spec, beta + db, sigma + ds) < at


@pytest.mark.parametrize("beta, sigma", [(-1.0, 0.5), (0.3, 1.5), (-2.0, 3.0)])
def test_adaptive_quadrature_equals_direct_integration(beta, sigma):
    # R: devfun <- glmer(..., nAGQ = 25, devFunOnly = TRUE); -devfun(c(sigma, beta)) / 2
    # lme4's 25 nodes are within 1e-6 even at sigma = 3 (experts with no right answer make
    # the integrand skewed there); more nodes converge to the integral itself.
    spec = ref.MIXED_B
    direct = _quad_loglik(spec, beta, sigma)
    assert_allclose(random_intercept_loglik(_counts(spec), beta, sigma), direct, rtol=1e-6)
    assert_allclose(random_intercept_loglik(_counts(spec), beta, sigma, n_nodes=100), direct, rtol=1e-10)
    laplace = random_intercept_loglik(_counts(spec), beta, sigma, n_nodes=1)
    assert abs(laplace - direct) > 1e-6  # Laplace (nAGQ = 1) is an approximation


def test_on_the_boundary_the_model_is_ordinary_logistic_regression():
    # Set A has sigma = 0 at the maximum: intercept and SE of glm(family = binomial).
    spec = ref.MIXED_A
    endog = np.concatenate([[1.0] * y + [0.0] * (n - y) for n, y in zip(spec["n"], spec["y"], strict=True)])
    glm = sm.GLM(endog, np.ones((len(endog), 1)), family=sm.families.Binomial()).fit()
    r = random_intercept_vs_chance(_counts(spec), spec["chance"])
    assert r.extra["sigma"] < 1e-4
    assert_allclose(r.extra["logit"], glm.params[0], rtol=1e-6)
    assert_allclose(r.extra["logit_se"], glm.bse[0], rtol=1e-5)
    assert_allclose(r.extra["marginal_accuracy"], r.estimate, rtol=1e-6)


def test_fit_on_counts_is_the_fit_on_experts_with_the_same_counts():
    # Ten copies of every expert: the same estimates, a tenth of the variance.
    spec = ref.MIXED_C
    many = pd.concat([_counts(spec)] * 10, ignore_index=True)
    one, ten = (random_intercept_vs_chance(c, 0.25) for c in (_counts(spec), many))
    assert_allclose(ten.extra["logit"], one.extra["logit"], rtol=1e-6)
    assert_allclose(ten.extra["logit_se"] ** 2 * 10, one.extra["logit_se"] ** 2, rtol=1e-4)


def test_too_few_experts_or_no_variation_is_not_tested():
    assert isinstance(random_intercept_vs_chance(pd.DataFrame({"n": [10] * 5, "y": [3] * 5}), 0.25), NotTested)
    r = random_intercept_vs_chance(pd.DataFrame({"n": [10] * 12, "y": [10] * 12}), 0.25)
    assert isinstance(r, NotTested) and "every answer" in r.reason


def _spread_experts() -> pd.DataFrame:
    # 60 experts whose log-odds spread with SD 2 around a median exactly at chance.
    p = special.expit(special.logit(0.25) + 2.0 * stats.norm.ppf((np.arange(60) + 0.5) / 60))
    return pd.DataFrame({"n": [10] * 60, "y": np.round(10 * p).astype(int)})


def test_population_average_and_typical_expert_can_disagree():
    counts = _spread_experts()
    gee, mixed = gee_vs_chance(counts, 0.25), random_intercept_vs_chance(counts, 0.25)
    assert gee.p_value < 0.05 < mixed.p_value
    assert mixed.estimate < gee.estimate
    # The model's own population average is close to the GEE's.
    assert abs(mixed.extra["marginal_accuracy"] - gee.estimate) < 0.02


def test_report_gives_both_estimands_and_says_when_they_disagree():
    people = [(10, int(y), 0) for y in _spread_experts()["y"]]
    report = build_report(_export({("real_vs_synthetic", "mixed"): people}))
    entry = report["categories"]["real_vs_synthetic"]
    for key in ("clustered", "mixed"):
        assert set(entry[key]) >= {"estimate", "ci95", "p_value", "method", "reading"}
    assert "random answer from a random expert" in entry["clustered"]["reading"]
    assert "typical" in entry["mixed"]["reading"]
    assert any("typical expert" in f and "population-average" in f for f in report["findings"])
    assert "typical expert" in render_markdown(report)
