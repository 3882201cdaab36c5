"""No question's correct slot can be learned from the earlier ones (planning.spread_slots).

An expert who is sure of half the answers knows where those answers were. The best they can do on the
rest is to pick the slot the draw's rule makes most likely given those known slots (striking out slots
that are used up). The test plays that expert exactly (the posterior of the rule, not a heuristic) on
sequences from the real sampler and measures the accuracy gained over guessing: at most one point. Balance
within ±1 per session gives about three points away, so that rule fails the same test.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections import Counter

import pytest

from survey import planning

SURE = 0.5  # the share of answers the expert is sure of
TRIALS = 1500


def allowed_counts(n: int, k: int) -> list[tuple[int, ...]]:
    low, high = planning.slot_count_bounds(n, k)
    return [c for c in itertools.product(range(low, high + 1), repeat=k) if sum(c) == n]


def posterior(counts: list[tuple[int, ...]], n: int, known: Counter, k: int) -> list[float]:
    """P(an unknown position holds each slot | the slots known so far), every allowed sequence equally likely."""
    unknown = n - sum(known.values())
    weights = [0.0] * k
    for c in counts:
        left = [c[s] - known[s + 1] for s in range(k)]
        if min(left) < 0:
            continue
        completions = math.factorial(unknown) / math.prod(math.factorial(x) for x in left)
        for s in range(k):
            weights[s] += completions * left[s]
    return weights


def striking_gain(n: int, k: int) -> float:
    """Accuracy gained over all n questions by the best use of the sure answers' slots."""
    rng = random.Random(5)
    counts = allowed_counts(n, k)

    @functools.cache  # the same known slots recur across trials; the posterior depends on nothing else
    def best_slots(known_counts: tuple[int, ...]) -> tuple[int, ...]:
        weights = posterior(counts, n, Counter(dict(enumerate(known_counts, start=1))), k)
        return tuple(s + 1 for s in range(k) if weights[s] >= max(weights) * (1 - 1e-12))

    hits = unsure = 0.0
    for _ in range(TRIALS):
        slots = planning.spread_slots(rng, n, k)
        known: Counter = Counter()
        for slot in slots:
            if rng.random() < SURE:
                known[slot] += 1
                continue
            best = best_slots(tuple(known[s] for s in range(1, k + 1)))
            hits += (slot in best) / len(best)
            unsure += 1
    return (hits / unsure - 1 / k) * (1 - SURE)


@pytest.mark.parametrize(("n", "k"), [(10, 4), (10, 3), (6, 4), (20, 4)])
def test_striking_out_used_slots_gains_at_most_one_point(n, k):
    assert striking_gain(n, k) <= 0.01


def test_balance_within_one_would_give_answers_away(monkeypatch):
    """The test has the power to see it: each slot 2 or 3 times in 10 questions leaks about 3 points."""
    monkeypatch.setattr(planning, "slot_count_bounds", lambda n, k: (n // k, -(-n // k)))
    assert striking_gain(10, 4) > 0.02


def test_every_slot_is_equally_often_correct_over_participants():
    """Over many sessions each position is correct equally often (within sampling error)."""
    from scipy.stats import chisquare

    rng = random.Random(11)
    totals = Counter(slot for _ in range(3000) for slot in planning.spread_slots(rng, 10, 4))
    assert chisquare([totals[s] for s in range(1, 5)]).pvalue > 0.01
