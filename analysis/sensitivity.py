"""What skips and timeouts would do to a category's test, counted three ways."""

from __future__ import annotations

from .proportions import binomial_vs_chance
from .results import TestResult

__all__ = ["exclusion_sensitivity"]


def exclusion_sensitivity(n_correct: int, n_answered: int, n_excluded: int, chance: float) -> dict[str, TestResult]:
    """Exact binomial test against chance with skips and timeouts excluded, wrong, at chance.

    Parameters
    ----------
    n_correct, n_answered : int
        Correct and answered questions.
    n_excluded : int
        Skipped plus timed-out questions.
    chance : float
        Accuracy under guessing.

    Returns
    -------
    dict of TestResult
        ``"excluded"`` (the primary analysis: skips and timeouts left out),
        ``"as_wrong"`` (each counted as a wrong answer) and ``"as_chance"``
        (each counted as a guess: ``round(chance * n_excluded)`` of them
        correct), each a two-sided exact binomial test.

    Notes
    -----
    R: ``binom.test(k, n, chance)``, ``binom.test(k, n + m, chance)`` and
    ``binom.test(k + round(chance * m), n + m, chance)``.

    Examples
    --------
    The paper's category 1 (177 of 531, 89 skipped or timed out):

    >>> from analysis import exclusion_sensitivity
    >>> s = exclusion_sensitivity(177, 531, 89, 0.25)
    >>> [f"{s[k].p_value:.2g}" for k in ("excluded", "as_wrong", "as_chance")]
    ['1.9e-05', '0.046', '7.7e-05']
    """
    if n_excluded < 0:
        raise ValueError(f"n_excluded must not be negative, got {n_excluded}")
    at_chance = int(round(chance * n_excluded))
    return {
        "excluded": binomial_vs_chance(n_correct, n_answered, chance),
        "as_wrong": binomial_vs_chance(n_correct, n_answered + n_excluded, chance),
        "as_chance": binomial_vs_chance(n_correct + at_chance, n_answered + n_excluded, chance),
    }
