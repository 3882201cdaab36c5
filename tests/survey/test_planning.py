"""The seeded draw of a session's questions (survey/planning.py), tested without a database."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from survey import roles
from survey.planning import (
    BankPortrait,
    PlanError,
    PlanSettings,
    plan_session,
    slot_code,
    slot_count_bounds,
    spread_slots,
)

DISORDERS = tuple(f"phx{i}" for i in range(8))
SETTINGS = PlanSettings(disorders=DISORDERS, counts={"real_vs_synthetic": 10, "reidentification": 10, "diagnosis": 10})


def with_roles(portraits: list[BankPortrait], settings: PlanSettings = SETTINGS, seed: int = 0) -> list[BankPortrait]:
    """The bank as a frozen study holds it: every portrait with the role the study's seed gives it."""
    role_settings = roles.RoleSettings(
        disorders=settings.disorders, counts=settings.counts, with_practice=settings.with_practice
    )
    assignment = roles.assign_roles(
        [roles.Candidate(p.id, p.content_hash, p.pool, p.disorder) for p in portraits], role_settings, seed=seed
    )
    return [replace(p, role=assignment.roles.get(p.id, "")) for p in portraits]


def bank(training=6, held_out=6, synthetic=12, averages=1, assign=True) -> list[BankPortrait]:
    portraits = []
    for d in DISORDERS:
        for kind, used, n in [
            ("real", True, training),
            ("real", False, held_out),
            ("synthetic", None, synthetic),
            ("latent_average", None, averages),
        ]:
            for _ in range(n):
                pid = len(portraits) + 1
                portraits.append(BankPortrait(pid, f"{pid:064x}", kind, d, used))
    return with_roles(portraits) if assign else portraits


BANK = bank()
BY_ID = {p.id: p for p in BANK}


def timed(plan):
    return [q for q in plan if not q.is_practice]


def portrait_ids(question):
    return list(question.stimulus_portrait_ids) + [o.portrait_id for o in question.options if o.portrait_id]


def test_it_gives_the_same_plan_for_the_same_seed():
    assert plan_session(BANK, SETTINGS, 42) == plan_session(BANK, SETTINGS, 42)


def test_it_does_not_depend_on_the_order_of_the_bank():
    assert plan_session(list(reversed(BANK)), SETTINGS, 42) == plan_session(BANK, SETTINGS, 42)


def test_it_gives_different_plans_for_different_seeds():
    assert plan_session(BANK, SETTINGS, 1) != plan_session(BANK, SETTINGS, 2)


def test_it_draws_category_order_from_the_seed():
    orders = {tuple(dict.fromkeys(q.category for q in timed(plan_session(BANK, SETTINGS, s)))) for s in range(40)}
    assert len(orders) == 6  # every permutation of three categories occurs


def test_it_asks_each_category_in_one_block_with_positions_1_to_30():
    plan = timed(plan_session(BANK, SETTINGS, 7))
    assert [q.position for q in plan] == list(range(1, 31))
    assert Counter(q.category for q in plan) == {"real_vs_synthetic": 10, "reidentification": 10, "diagnosis": 10}
    changes = sum(1 for a, b in zip(plan, plan[1:], strict=False) if a.category != b.category)
    assert changes == 2


def test_each_category_opens_with_its_practice_question():
    plan = plan_session(BANK, SETTINGS, 7)
    assert [q.sequence for q in plan] == list(range(1, 34))
    practice = [q for q in plan if q.is_practice]
    assert sorted(q.category for q in practice) == sorted(SETTINGS.counts)
    for question in practice:
        following = plan[question.sequence]  # the next question in the order of asking
        assert following.category == question.category and not following.is_practice
        earlier = plan[question.sequence - 2] if question.sequence > 1 else None
        assert earlier is None or earlier.category != question.category


@pytest.mark.parametrize("seed", range(10))
def test_practice_portraits_are_never_shown_in_timed_questions(seed):
    plan = plan_session(BANK, SETTINGS, seed)
    for question in plan:
        for pid in portrait_ids(question):
            if BY_ID[pid].kind != "latent_average":
                assert (BY_ID[pid].role in roles.PRACTICE_ROLES.values()) == question.is_practice


def test_portraits_without_a_role_are_never_drawn():
    unassigned = {p.id for p in BANK if not p.role and p.kind != "latent_average"}
    assert unassigned  # the fixture leaves spare portraits
    shown = {pid for s in range(20) for q in plan_session(BANK, SETTINGS, s) for pid in portrait_ids(q)}
    assert not shown & unassigned


@pytest.mark.parametrize("seed", range(25))
def test_it_never_shows_a_person_twice_in_a_session(seed):
    shown = [pid for q in plan_session(BANK, SETTINGS, seed) for pid in portrait_ids(q)]
    people = [pid for pid in shown if BY_ID[pid].kind != "latent_average"]
    assert len(people) == len(set(people))


@pytest.mark.parametrize("seed", range(25))
def test_real_vs_synthetic_shows_one_real_training_portrait_among_synthetic_ones_of_one_disorder(seed):
    for q in timed(plan_session(BANK, SETTINGS, seed)):
        if q.category != "real_vs_synthetic":
            continue
        portraits = {o.code: BY_ID[o.portrait_id] for o in q.options}
        assert len(portraits) == 4
        real = [code for code, p in portraits.items() if p.kind == "real"]
        assert real == [q.correct_choice]
        assert portraits[q.correct_choice].used_in_training is True
        assert {p.disorder for p in portraits.values()} == {q.disorder}
        assert q.stimulus_kind == "mixed"


@pytest.mark.parametrize("seed", range(25))
def test_the_real_portraits_slot_stays_within_its_bounds_in_every_session(seed):
    slots = Counter(
        q.correct_choice for q in timed(plan_session(BANK, SETTINGS, seed)) if q.category == "real_vs_synthetic"
    )
    low, high = slot_count_bounds(10, 4)
    assert all(low <= slots.get(code, 0) <= high for code in "ABCD")


def test_the_real_portraits_slot_is_uniform_over_many_sessions():
    slots = Counter(
        q.correct_choice
        for s in range(200)
        for q in timed(plan_session(BANK, SETTINGS, s))
        if q.category == "real_vs_synthetic"
    )
    assert max(slots.values()) - min(slots.values()) <= 200  # of 2000: each slot within 10 % of its share


@pytest.mark.parametrize("seed", range(25))
def test_reidentification_has_exactly_one_training_member_and_it_is_the_answer(seed):
    for q in timed(plan_session(BANK, SETTINGS, seed)):
        if q.category != "reidentification":
            continue
        (average,) = [BY_ID[i] for i in q.stimulus_portrait_ids]
        assert average.kind == "latent_average" and average.disorder == q.disorder
        candidates = {o.code: BY_ID[o.portrait_id] for o in q.options}
        members = [code for code, p in candidates.items() if p.used_in_training]
        assert members == [q.correct_choice]
        assert all(p.kind == "real" and p.disorder == q.disorder for p in candidates.values())


@pytest.mark.parametrize("seed", range(25))
def test_diagnosis_balances_real_and_synthetic_portraits_and_offers_distinct_disorders(seed):
    questions = [q for q in timed(plan_session(BANK, SETTINGS, seed)) if q.category == "diagnosis"]
    assert Counter(q.stimulus_kind for q in questions) == {"real": 5, "synthetic": 5}
    for q in questions:
        (shown,) = [BY_ID[i] for i in q.stimulus_portrait_ids]
        assert shown.kind == q.stimulus_kind and shown.disorder == q.disorder
        codes = [o.code for o in q.options]
        assert len(set(codes)) == 4 and q.correct_choice == q.disorder in codes
    slots = Counter(next(o.slot for o in q.options if o.code == q.correct_choice) for q in questions)
    low, high = slot_count_bounds(10, 4)
    assert all(low <= slots.get(slot, 0) <= high for slot in range(1, 5))


def test_disorders_are_spread_evenly_within_a_category():
    plan = timed(plan_session(BANK, SETTINGS, 3))
    per_disorder = Counter(q.disorder for q in plan if q.category == "real_vs_synthetic")
    assert max(per_disorder.values()) - min(per_disorder.values()) <= 1


def test_spread_slots_keep_every_count_within_the_bounds():
    import random

    rng = random.Random(0)
    for n, k in [(1, 4), (2, 3), (10, 4), (10, 3), (40, 4)]:
        low, high = slot_count_bounds(n, k)
        for _ in range(200):
            counts = Counter(spread_slots(rng, n, k))
            assert all(low <= counts.get(slot, 0) <= high for slot in range(1, k + 1))


def test_slot_codes_are_letters():
    assert [slot_code(i) for i in (1, 2, 4)] == ["A", "B", "D"]


def test_it_says_what_is_missing_when_the_bank_is_too_small():
    small = bank(assign=False)
    # Roles drawn for a bank, then the synthetic portraits of one role pool withdrawn.
    drawn = [p for p in with_roles(small) if p.role != roles.REAL_VS_SYNTHETIC_SYNTHETIC or p.disorder != "phx0"]
    drawn = [p for p in drawn if p.role != roles.REAL_VS_SYNTHETIC_SYNTHETIC or int(p.id) % 2]
    with pytest.raises(PlanError, match="synthetic"):
        plan_session(drawn, SETTINGS, 0)


def test_it_refuses_more_diagnosis_options_than_disorders():
    settings = PlanSettings(disorders=DISORDERS[:3], counts={"diagnosis": 2})
    with pytest.raises(PlanError, match="only 3"):
        plan_session(BANK, settings, 0)


TIGHT = bank(training=5, held_out=7, synthetic=11)


@pytest.mark.parametrize("seed", range(200))
def test_a_bank_with_little_slack_still_supplies_every_session(seed):
    """5 training, 7 held-out and 11 synthetic portraits per disorder just fill one session's roles and the
    practice questions; the draw must not strand them in any category order."""
    tight = TIGHT
    plan = plan_session(tight, SETTINGS, seed)
    assert len(timed(plan)) == 30
    assert plan_session(tight, SETTINGS, seed) == plan  # a repeated draw is still a function of the seed
