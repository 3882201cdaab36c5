"""Subject-specific accuracy: random-intercept logistic regression fitted by adaptive quadrature.

The GEE of :mod:`analysis.clustered` answers "how often is an answer from a randomly
chosen expert right?" (population average). This module answers "how often is the
typical expert right?" (subject-specific): ``logit P(correct) = beta + b_i`` with
``b_i ~ N(0, sigma^2)`` per expert, fitted by maximum likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .clustered import MIN_PARTICIPANTS, _validate_counts
from .results import NotTested, TestResult

__all__ = [
    "DEFAULT_QUADRATURE_NODES",
    "MIXED_READING",
    "random_intercept_loglik",
    "random_intercept_vs_chance",
]

#: lme4 allows at most 25 adaptive Gauss-Hermite nodes for one scalar random effect;
#: with 25 the quadrature error is far below the sampling error.
DEFAULT_QUADRATURE_NODES = 25
#: What the estimate means, in words a reader can quote.
MIXED_READING = "subject-specific: the accuracy of the typical (median) expert, from a random-intercept logistic model"
# Beyond this between-expert SD on the logit scale (odds ratios of e^10 between two
# experts one SD apart) the likelihood is flat: the data cannot tell such values apart.
_SIGMA_MAX = 10.0


@dataclass(frozen=True)
class _Pairs:
    """Experts grouped by their (answers, correct) pair: the likelihood depends on nothing else."""

    n: np.ndarray
    y: np.ndarray
    weight: np.ndarray  # how many experts share the pair


def _pairs(counts: pd.DataFrame) -> _Pairs:
    active = counts[counts["n"] > 0]
    table = active.groupby(["n", "y"]).size()
    return _Pairs(
        n=table.index.get_level_values("n").to_numpy(dtype=float),
        y=table.index.get_level_values("y").to_numpy(dtype=float),
        weight=table.to_numpy(dtype=float),
    )


@lru_cache(maxsize=8)
def _gauss_hermite(n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, weights and log(weight) + node^2 (the factor that undoes e^-x^2)."""
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    return x, w, np.log(w) + x * x


def _log_expit(x: np.ndarray | float) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _pair_loglik(beta: float, sigma: float, pairs: _Pairs, n_nodes: int) -> np.ndarray:
    """log of the integral over b of prod Bernoulli(expit(beta + b)) * N(b; 0, sigma^2), per pair.

    Adaptive Gauss-Hermite: centre the nodes at the mode of each pair's integrand and
    scale them by its curvature (Liu and Pierce 1994), as lme4's ``nAGQ > 1`` does.
    ``n_nodes = 1`` is the Laplace approximation.
    """
    n, y = pairs.n, pairs.y
    if sigma <= 0.0:
        return y * _log_expit(beta) + (n - y) * _log_expit(-beta)
    # Mode of g(z) = y log p + (n - y) log(1 - p) - z^2 / 2, p = expit(beta + sigma z):
    # g'(z) = sigma (y - n p) - z is decreasing, with its root in [sigma (y - n), sigma y].
    lo, hi = sigma * (y - n) - 1e-12, sigma * y + 1e-12
    z = np.zeros_like(n)
    for _ in range(60):
        p = special.expit(beta + sigma * z)
        grad = sigma * (y - n * p) - z
        lo = np.where(grad > 0, z, lo)
        hi = np.where(grad > 0, hi, z)
        step = z + grad / (sigma * sigma * n * p * (1 - p) + 1.0)
        # Newton inside the bracket, bisection where Newton would leave it.
        z_new = np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
        # Quadratic convergence: stop once a step no longer moves z beyond rounding (the
        # nodes are placed around z, so 1e-10 of its scale is far below any effect).
        done = np.max(np.abs(z_new - z) / (1.0 + np.abs(z))) < 1e-10
        z = z_new
        if done:
            break
    p = special.expit(beta + sigma * z)
    scale = 1.0 / np.sqrt(sigma * sigma * n * p * (1 - p) + 1.0)
    x, _, log_factor = _gauss_hermite(n_nodes)
    nodes = z[:, None] + math.sqrt(2.0) * scale[:, None] * x[None, :]
    eta = beta + sigma * nodes
    log_g = y[:, None] * _log_expit(eta) + (n - y)[:, None] * _log_expit(-eta) - 0.5 * nodes * nodes
    terms = log_g + log_factor[None, :]
    top = terms.max(axis=1)
    log_sum = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
    return log_sum + np.log(math.sqrt(2.0) * scale) - 0.5 * math.log(2 * math.pi)


def random_intercept_loglik(
    counts: pd.DataFrame, beta: float, sigma: float, n_nodes: int = DEFAULT_QUADRATURE_NODES
) -> float:
    """Marginal log-likelihood of a random-intercept logistic model, from per-expert counts.

    Parameters
    ----------
    counts : pandas.DataFrame
        Per-expert ``n`` and ``y`` (see :func:`participant_counts`).
    beta : float
        Intercept on the logit scale (the typical expert's log-odds of a right answer).
    sigma : float
        Between-expert standard deviation of the log-odds.
    n_nodes : int
        Adaptive Gauss-Hermite nodes (1 = Laplace).

    Returns
    -------
    float
        The log-likelihood of the 0/1 answers (no binomial coefficients), the
        number R's ``logLik`` reports for a ``glmer`` fit on one row per answer.

    Notes
    -----
    Exact for this model to fit on counts: an expert's likelihood depends on
    their answers only through (answers, correct). R: ``-0.5 * deviance`` of
    ``glmer(correct ~ 1 + (1 | participant), family = binomial, nAGQ = 25)``
    evaluated at ``(beta, sigma)`` (``devfun`` from ``glmer(..., devFunOnly =
    TRUE)``, called with ``c(sigma, beta)``).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.mixed import random_intercept_loglik
    >>> counts = pd.DataFrame({"n": [10, 10], "y": [3, 7]})
    >>> round(random_intercept_loglik(counts, 0.0, 0.0), 4)   # 20 fair coin flips
    -13.8629
    """
    _validate_counts(counts)
    pairs = _pairs(counts)
    return float((pairs.weight * _pair_loglik(beta, sigma, pairs, n_nodes)).sum())


def _negloglik(pairs: _Pairs, n_nodes: int):
    def f(beta: float, sigma: float) -> float:
        return -float((pairs.weight * _pair_loglik(beta, abs(sigma), pairs, n_nodes)).sum())

    return f


def _sigma_profile(f, beta: float, sigma_hint: float) -> tuple[float, float]:
    """min over sigma of f(beta, sigma): (value, argmin). Bounded Brent on [0, _SIGMA_MAX]."""
    res = optimize.minimize_scalar(
        lambda s: f(beta, s), bounds=(0.0, _SIGMA_MAX), method="bounded", options={"xatol": 1e-7}
    )
    best_val, best_s = float(res.fun), float(res.x)
    # Brent on a bounded interval never evaluates the end point itself.
    at_zero = f(beta, 0.0)
    if at_zero <= best_val:
        best_val, best_s = at_zero, 0.0
    if sigma_hint > 0:
        hinted = f(beta, sigma_hint)
        if hinted < best_val:
            best_val, best_s = hinted, sigma_hint
    return best_val, best_s


def _fit(f, beta0: float) -> tuple[float, float, float]:
    """Maximum likelihood (beta, sigma) and the minimum of f."""
    start = np.array([beta0, 0.5])
    res = optimize.minimize(
        lambda v: f(v[0], v[1]), start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000}
    )
    beta, sigma = float(res.x[0]), abs(float(res.x[1]))
    # Polish each coordinate once: the boundary sigma = 0 is a real possibility.
    value, sigma = _sigma_profile(f, beta, sigma)
    res_b = optimize.minimize_scalar(lambda b: f(b, sigma), bracket=(beta - 0.1, beta + 0.1))
    if res_b.fun < value:
        beta, value = float(res_b.x), float(res_b.fun)
    return beta, sigma, value


def _beta_variance(f, beta: float, sigma: float) -> float:
    """Var(beta) from the inverse observed information of (beta, sigma), as lme4's vcov."""
    h = 1e-4 * max(1.0, abs(beta))
    d_bb = (f(beta + h, sigma) - 2 * f(beta, sigma) + f(beta - h, sigma)) / h**2
    if sigma < 1e-3:
        # On the boundary sigma = 0 the model is an ordinary logistic regression.
        return 1.0 / d_bb
    k = 1e-4 * max(1.0, sigma)
    d_ss = (f(beta, sigma + k) - 2 * f(beta, sigma) + f(beta, sigma - k)) / k**2
    d_bs = (f(beta + h, sigma + k) - f(beta + h, sigma - k) - f(beta - h, sigma + k) + f(beta - h, sigma - k)) / (
        4 * h * k
    )
    det = d_bb * d_ss - d_bs * d_bs
    return d_ss / det if det > 0 else 1.0 / d_bb


def _profile_bound(
    f, beta_hat: float, f_hat: float, sigma_hat: float, direction: float, critical: float, se: float
) -> float:
    """End of the profile-likelihood interval on one side of beta_hat."""

    def excess(b: float) -> float:
        return 2 * (_sigma_profile(f, b, sigma_hat)[0] - f_hat) - critical

    step = max(se, 1e-3)
    far = beta_hat + direction * step
    for _ in range(60):
        if excess(far) > 0:
            break
        step *= 2
        far = beta_hat + direction * step
    else:
        return direction * math.inf
    lo, hi = sorted((beta_hat, far))
    return float(optimize.brentq(excess, lo, hi, xtol=1e-10))


def _marginal_accuracy(beta: float, sigma: float) -> float:
    """Population-average accuracy the model implies: E[expit(beta + sigma Z)]."""
    if sigma <= 0:
        return float(special.expit(beta))
    x, w, _ = _gauss_hermite(60)
    return float((w * special.expit(beta + math.sqrt(2) * sigma * x)).sum() / math.sqrt(math.pi))


def random_intercept_vs_chance(
    counts: pd.DataFrame, chance: float, conf_level: float = 0.95, n_nodes: int = DEFAULT_QUADRATURE_NODES
) -> TestResult | NotTested:
    """The typical expert's accuracy against chance (random-intercept logistic regression).

    Parameters
    ----------
    counts : pandas.DataFrame
        Per-expert ``n`` (answers) and ``y`` (correct), from :func:`participant_counts`.
    chance : float
        Accuracy under guessing.
    conf_level : float
        Coverage of the profile-likelihood interval.
    n_nodes : int
        Adaptive Gauss-Hermite quadrature nodes (lme4's ``nAGQ``; 1 = Laplace).

    Returns
    -------
    TestResult or NotTested
        ``estimate`` is ``expit(beta)``, the accuracy of the typical (median)
        expert; ``p_value`` the likelihood-ratio test of ``beta = logit(chance)``
        (``sigma`` profiled out) and ``statistic`` its signed root; ``ci`` the
        profile-likelihood interval back-transformed from the logit. ``extra``:
        ``sigma`` (between-expert SD of the log-odds), ``icc_latent``
        (``sigma^2 / (sigma^2 + pi^2 / 3)``), ``marginal_accuracy`` (the
        population average the model implies), ``wald_p_value`` and
        ``wald_ci`` (lme4's ``summary`` z test and ``confint(method =
        "Wald")``), ``logit``, ``logit_se``, ``loglik``, ``n_nodes``,
        ``n_participants`` and ``reading``. ``NotTested`` with fewer than
        ``MIN_PARTICIPANTS`` experts or when every answer is right (or wrong).

    Notes
    -----
    The maximum-likelihood fit works on the distinct (answers, correct) pairs
    of the experts, which is exact for a random-intercept model and costs the
    same for 10^3 or 10^6 answers. The covariance is the inverse observed
    information of ``(beta, sigma)`` (lme4's default, ``use.hessian =
    TRUE``). R::

        fit1 <- glmer(correct ~ 1 + (1 | participant), family = binomial, nAGQ = 25)
        fit0 <- glmer(correct ~ 0 + offset(rep(qlogis(chance), n)) + (1 | participant),
                      family = binomial, nAGQ = 25)
        anova(fit0, fit1)                                 # p_value
        plogis(confint(fit1, parm = "(Intercept)"))       # ci (profile)
        summary(fit1)$coefficients; confint(fit1, method = "Wald")

    Like the uncorrected GEE, the likelihood-ratio test is asymptotic in the
    number of experts; with 10-20 experts read it beside the bias-reduced GEE.

    Examples
    --------
    Three experts who know every answer and seventeen who score 2 of 10: the
    typical expert sits below the average answer the model implies.

    >>> import pandas as pd
    >>> from analysis import random_intercept_vs_chance
    >>> counts = pd.DataFrame({"n": [10] * 20, "y": [10] * 3 + [2] * 17})
    >>> r = random_intercept_vs_chance(counts, 0.25)
    >>> round(r.estimate, 3), round(r.p_value, 2), round(r.extra["marginal_accuracy"], 3)
    (0.298, 0.5, 0.347)
    """
    _validate_counts(counts)
    if not 0 < chance < 1:
        raise ValueError(f"chance must lie in (0, 1), got {chance!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must lie in (0, 1), got {conf_level!r}")
    method = (
        f"random-intercept logistic regression (ML, adaptive Gauss-Hermite, "
        f"{n_nodes} nodes), likelihood-ratio test, profile CI"
    )
    n_part = int((counts["n"] > 0).sum())
    total, y_sum = int(counts["n"].sum()), int(counts["y"].sum())
    if n_part < MIN_PARTICIPANTS:
        return NotTested(
            method, total, f"only {n_part} participant(s) answered; a mixed model needs at least {MIN_PARTICIPANTS}"
        )
    if y_sum in (0, total):
        return NotTested(
            method, total, "every answer is correct (or every answer wrong): the logit model has no finite estimate"
        )
    pairs = _pairs(counts)
    f = _negloglik(pairs, n_nodes)
    beta, sigma, f_hat = _fit(f, math.log(y_sum / (total - y_sum)))
    se = math.sqrt(_beta_variance(f, beta, sigma))
    beta0 = math.log(chance / (1 - chance))
    f_null, _ = _sigma_profile(f, beta0, sigma)
    lr = max(0.0, 2 * (f_null - f_hat))
    critical = float(stats.chi2.ppf(conf_level, 1))
    low = _profile_bound(f, beta, f_hat, sigma, -1.0, critical, se)
    high = _profile_bound(f, beta, f_hat, sigma, +1.0, critical, se)
    q = float(stats.norm.isf((1 - conf_level) / 2))
    wald_z = (beta - beta0) / se
    expit = special.expit
    return TestResult(
        statistic=float(math.copysign(math.sqrt(lr), beta - beta0)),
        p_value=float(stats.chi2.sf(lr, 1)),
        ci=(float(expit(low)), float(expit(high))),
        n=total,
        method=method,
        estimate=float(expit(beta)),
        conf_level=conf_level,
        extra={
            "chance": float(chance),
            "logit": beta,
            "logit_se": se,
            "sigma": sigma,
            "icc_latent": sigma**2 / (sigma**2 + math.pi**2 / 3),
            "marginal_accuracy": _marginal_accuracy(beta, sigma),
            "wald_z": float(wald_z),
            "wald_p_value": float(2 * stats.norm.sf(abs(wald_z))),
            "wald_ci": [float(expit(beta - q * se)), float(expit(beta + q * se))],
            "loglik": -f_hat,
            "n_nodes": n_nodes,
            "n_participants": n_part,
            "n_distinct_count_pairs": len(pairs.n),
            "reading": MIXED_READING,
        },
    )
