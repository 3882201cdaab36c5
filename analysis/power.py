"""Study planning: answers and participants to detect an excess over chance.

Planning to show real and synthetic accuracy equivalent (the TOST) is in
:mod:`analysis.equivalence_power`; the planning ICC below serves both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import stats

from .proportions import _binomial_pvalues_two_sided, _check_probability

__all__ = [
    "PowerPlan",
    "exact_binomial_power",
    "plan_study",
    "DEFAULT_PLANNING_ICC",
]

#: Within-expert correlation of correctness assumed when planning. The exchangeable
#: GEE estimates 0.06-0.09 on the paper-design fixture and the statistician's exports
#: (issue 15) showed 0.075-0.20 across categories; planning at the low end risks an
#: underpowered study, so the default sits in the upper half of that range.
DEFAULT_PLANNING_ICC = 0.15


def exact_binomial_power(
    nobs: int,
    chance: float,
    accuracy: float,
    alpha: float = 0.05,
    alternative: Literal["two-sided", "greater"] = "two-sided",
) -> float:
    """Power of the exact binomial test against chance, for a true accuracy.

    Parameters
    ----------
    nobs : int
        Answered questions.
    chance : float
        Null accuracy.
    accuracy : float
        True accuracy to detect.
    alpha : float
        Significance level.
    alternative : {"two-sided", "greater"}
        The test that will be run (two-sided as R's ``binom.test`` default).

    Returns
    -------
    float
        Probability that ``binomial_vs_chance`` rejects at ``alpha``.

    Notes
    -----
    Exact: the rejection region is every count whose exact p-value is at most
    ``alpha``, and power is its probability under ``accuracy``. R has no base
    function (``pwr`` uses normal approximations); in R one writes
    ``sum(dbinom(k[p <= alpha], n, accuracy))`` with ``p`` from ``binom.test``.

    Examples
    --------
    >>> from analysis import exact_binomial_power
    >>> round(exact_binomial_power(531, 0.25, 1 / 3), 3)
    0.989
    """
    if nobs < 1:
        raise ValueError(f"nobs must be at least 1, got {nobs}")
    _check_probability(chance, "chance")
    _check_probability(accuracy, "accuracy")
    k = np.arange(nobs + 1)
    if alternative == "greater":
        p = stats.binom.sf(k - 1, nobs, chance)
    elif alternative == "two-sided":
        p = _binomial_pvalues_two_sided(nobs, chance)
    else:
        raise ValueError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")
    reject = p <= alpha
    return float(stats.binom.pmf(k[reject], nobs, accuracy).sum())


@dataclass(frozen=True)
class PowerPlan:
    """Sample sizes for one category of a study."""

    chance: float
    accuracy: float
    alpha: float
    power: float
    alternative: str
    answers_exact: int  # answered questions the exact binomial test needs
    achieved_power: float  # its power at exactly that many answers
    questions_per_participant: int
    icc: float
    design_effect: float  # 1 + (m - 1) * icc
    answers_clustered: int  # answers once clustering is allowed for
    answer_rate: float  # share of questions answered (not skipped or timed out)
    questions_presented: int
    participants: int

    def to_dict(self) -> dict:
        return asdict(self)


def check_design(questions_per_participant: int, icc: float, answer_rate: float) -> None:
    """The study design both planners take (this one and ``plan_equivalence``): raises ValueError, naming
    the argument, unless m >= 1, 0 <= icc < 1 and 0 < answer_rate <= 1."""
    if questions_per_participant < 1:
        raise ValueError("questions_per_participant must be at least 1")
    if not 0 <= icc < 1:
        raise ValueError(f"icc must lie in [0, 1), got {icc!r}")
    if not 0 < answer_rate <= 1:
        raise ValueError(f"answer_rate must lie in (0, 1], got {answer_rate!r}")


def plan_study(
    excess: float,
    chance: float,
    power: float = 0.80,
    alpha: float = 0.05,
    questions_per_participant: int = 10,
    icc: float = DEFAULT_PLANNING_ICC,
    answer_rate: float = 1.0,
    alternative: Literal["two-sided", "greater"] = "two-sided",
    max_answers: int = 200_000,
) -> PowerPlan:
    """Participants and questions per category needed to detect ``excess`` over chance.

    Parameters
    ----------
    excess : float
        Accuracy minus chance to detect, e.g. 0.05 for 5 points.
    chance : float
        ``1 / n_options``.
    power, alpha : float
        Target power and level of the exact binomial test.
    questions_per_participant : int
        Questions of this category each participant gets (``m``).
    icc : float
        Within-participant correlation of correctness; inflates the answers
        needed by the design effect ``1 + (m - 1) icc`` (Kish). Default
        ``DEFAULT_PLANNING_ICC``.
    answer_rate : float
        Share of presented questions that get answered (the paper: 1603/1860
        = 0.862); presented questions = answers / rate.
    alternative : {"two-sided", "greater"}
        The test that will be run.
    max_answers : int
        Give up beyond this many answers.

    Returns
    -------
    PowerPlan
        ``answers_exact`` is the smallest n reaching ``power`` (exact power
        saw-tooths in n, so a few larger n may fall just short again);
        ``participants`` covers the clustered, presented questions.

    Notes
    -----
    R: no base equivalent; ``pwr::pwr.p.test`` gives the arcsine-normal
    approximation that seeds the search here.

    Examples
    --------
    >>> from analysis import plan_study
    >>> plan = plan_study(0.05, 0.25, questions_per_participant=10, icc=0.05)
    >>> plan.answers_exact, plan.participants
    (607, 89)
    """
    _check_probability(chance, "chance")
    accuracy = chance + excess
    if not (0 < excess and accuracy < 1):
        raise ValueError(f"excess must be positive and chance + excess below 1, got {excess!r}")
    _check_probability(power, "power")
    _check_probability(alpha, "alpha")
    check_design(questions_per_participant, icc, answer_rate)
    # Normal approximation (Cohen's h) gives a starting point; the exact search
    # starts well below it because exact power can be reached earlier or later.
    z_a = stats.norm.isf(alpha / 2 if alternative == "two-sided" else alpha)
    h = abs(2 * math.asin(math.sqrt(accuracy)) - 2 * math.asin(math.sqrt(chance)))
    guess = max(1, int(((z_a + stats.norm.isf(1 - power)) / h) ** 2))
    n = max(1, int(guess * 0.7))
    step = 1
    while exact_binomial_power(n, chance, accuracy, alpha, alternative) < power:
        step = 1 if n < 2000 else max(1, n // 500)  # large n: coarse steps, refined below
        n += step
        if n > max_answers:
            raise ValueError(f"more than {max_answers} answers needed; is the excess too small?")
    for smaller in range(n - step + 1, n):
        if exact_binomial_power(smaller, chance, accuracy, alpha, alternative) >= power:
            n = smaller
            break
    achieved = exact_binomial_power(n, chance, accuracy, alpha, alternative)
    deff = 1 + (questions_per_participant - 1) * icc
    clustered = math.ceil(n * deff)
    presented = math.ceil(clustered / answer_rate)
    participants = math.ceil(presented / questions_per_participant)
    return PowerPlan(
        chance=chance,
        accuracy=accuracy,
        alpha=alpha,
        power=power,
        alternative=alternative,
        answers_exact=n,
        achieved_power=achieved,
        questions_per_participant=questions_per_participant,
        icc=icc,
        design_effect=deff,
        answers_clustered=clustered,
        answer_rate=answer_rate,
        questions_presented=presented,
        participants=participants,
    )
