"""Nothing seen in other sessions marks an answer (survey/roles.py), tested as colleagues would attack it.

Eight sessions are drawn from one frozen bank. For each question of each session, an attacker who knows
everything the other seven sessions were shown (which faces, in which category, how often, and the
disorder a re-identification prompt names) picks an answer. Compared with chance by the exact binomial
test the study itself uses, no attack may do better than chance. The same attacks against the draw by
kind alone (the design before roles, where a real portrait could serve two categories) mark most answers:
that run shows the attacks have the power to catch a leak.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from scipy.stats import binomtest

from survey import planning, roles
from survey.planning import BankPortrait, PlannedQuestion, PlanSettings, plan_session
from tests.survey.test_planning import bank

SETTINGS = PlanSettings(
    disorders=tuple(f"phx{i}" for i in range(8)),
    counts={"real_vs_synthetic": 10, "reidentification": 10, "diagnosis": 10},
)
N_SESSIONS = 8


@dataclass
class Seen:
    """What a group of sessions showed of each portrait."""

    categories: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    named_disorder: dict[int, str] = field(default_factory=dict)  # re-identification prompts name the disorder

    def add(self, question: PlannedQuestion) -> None:
        for pid in [o.portrait_id for o in question.options if o.portrait_id] + list(question.stimulus_portrait_ids):
            self.categories[pid][question.category] += 1
            if question.category == "reidentification":
                self.named_disorder[pid] = question.disorder


def cross_category(question: PlannedQuestion, seen: Seen) -> list[str]:
    """Options a face's appearances in the other categories point to."""
    if question.category == "diagnosis":
        (stimulus,) = question.stimulus_portrait_ids
        named = seen.named_disorder.get(stimulus)
        return [named] if named in {o.code for o in question.options} else []
    other = "reidentification" if question.category == "real_vs_synthetic" else "real_vs_synthetic"
    # Real-vs-synthetic: a face seen as a re-identification candidate is real. Re-identification: a face
    # seen in real-vs-synthetic is real and from the training set, so the member.
    return [o.code for o in question.options if seen.categories[o.portrait_id][other]]


def most_seen(question: PlannedQuestion, seen: Seen) -> list[str]:
    """The option whose face recurs most often in the other sessions' questions of this category."""
    if question.category == "diagnosis":
        return []
    counts = {o.code: seen.categories[o.portrait_id][question.category] for o in question.options}
    best = max(counts.values())
    return [code for code, n in counts.items() if n == best] if best else []


def attack(plans: list[list[PlannedQuestion]], pick: Callable[[PlannedQuestion, Seen], list[str]], category: str):
    """(right, total) over every timed question of the category in every session, each attacked with what
    the other sessions showed; where the attack points nowhere (or at several options) it guesses among them."""
    rng = random.Random(0)
    right = total = 0
    for target, plan in enumerate(plans):
        seen = Seen()
        for other, other_plan in enumerate(plans):
            if other != target:
                for question in other_plan:
                    seen.add(question)
        for question in plan:
            if question.is_practice or question.category != category:
                continue
            pointed = pick(question, seen) or [o.code for o in question.options]
            right += rng.choice(pointed) == question.correct_choice
            total += 1
    return right, total


def sessions(portraits: list[BankPortrait]) -> list[list[PlannedQuestion]]:
    return [plan_session(portraits, SETTINGS, seed) for seed in range(1000, 1000 + N_SESSIONS)]


@pytest.fixture
def draw_by_kind(monkeypatch):
    """The draw before roles: real portraits by training use only, so one face could serve two categories."""
    monkeypatch.setattr(planning.BankPortrait, "draw_pool", property(lambda p: p.pool))

    by_kind = {  # practice questions drew from the same pools as timed ones
        "real_vs_synthetic": lambda real_stimulus: planning._Sources(
            real=planning.REAL_TRAINING, others=planning.SYNTHETIC
        ),
        "reidentification": lambda real_stimulus: planning._Sources(
            real=planning.REAL_TRAINING, others=planning.REAL_HELD_OUT
        ),
        "diagnosis": lambda real_stimulus: planning._Sources(
            stimulus=planning.REAL_HELD_OUT if real_stimulus else planning.SYNTHETIC
        ),
    }
    for category, sources in by_kind.items():
        spec = replace(planning._CATEGORY[category], sources=sources, practice_sources=lambda _, s=sources: s(False))
        monkeypatch.setitem(planning._CATEGORY, category, spec)


CASES = [
    (cross_category, "real_vs_synthetic"),
    (cross_category, "reidentification"),
    (cross_category, "diagnosis"),
    (most_seen, "real_vs_synthetic"),
    (most_seen, "reidentification"),
]
CHANCE = {"real_vs_synthetic": 1 / 4, "reidentification": 1 / 3, "diagnosis": 1 / 4}


@pytest.mark.parametrize(("pick", "category"), CASES, ids=[f"{p.__name__}-{c}" for p, c in CASES])
def test_what_other_sessions_showed_predicts_no_answer_better_than_chance(pick, category):
    right, total = attack(sessions(bank()), pick, category)
    assert total == N_SESSIONS * 10
    test = binomtest(right, total, CHANCE[category], alternative="greater")
    assert test.pvalue > 0.01, f"{pick.__name__} marks {right}/{total} {category} answers (p = {test.pvalue:.2g})"


@pytest.mark.parametrize("category", ["real_vs_synthetic", "reidentification", "diagnosis"])
def test_the_same_attack_marks_answers_when_portraits_cross_categories(draw_by_kind, category):
    right, total = attack(sessions(bank(assign=False)), cross_category, category)
    assert binomtest(right, total, CHANCE[category], alternative="greater").pvalue < 1e-6


def test_no_face_appears_in_two_roles_across_sessions():
    parts: dict[int, set[tuple[str, bool]]] = defaultdict(set)
    portraits = {p.id: p for p in bank()}
    for plan in sessions(list(portraits.values())):
        for question in plan:
            for option in question.options:
                if option.portrait_id:
                    answer = option.code == question.correct_choice
                    parts[option.portrait_id].add((question.category, question.is_practice, answer))
            for pid in question.stimulus_portrait_ids:
                if portraits[pid].kind != "latent_average":
                    parts[pid].add((question.category, question.is_practice, True))
    assert parts and all(len(roles_seen) == 1 for roles_seen in parts.values())
    assert {portraits[pid].role for pid in parts} >= set(roles.TIMED_ROLES) | set(roles.PRACTICE_ROLES.values())
