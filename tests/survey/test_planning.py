"""The seeded draw of a session's questions (survey/planning.py), tested without a database."""

from __future__ import annotations

from collections import Counter

import pytest

from survey.planning import (
    BankPortrait,
    PlanError,
    PlanSettings,
    balanced_slots,
    plan_session,
    slot_code,
)

DISORDERS = tuple(f"phx{i}" for i in range(8))


def bank(training=6, held_out=6, synthetic=8, averages=1) -> list[BankPortrait]:
    portraits = []
    for d in DISORDERS:
        for kind, used, n in [("real", True, training), ("real", False, held_out),
                              ("synthetic", None, synthetic), ("latent_average", None, averages)]:
            for _ in range(n):
                pid = len(portraits) + 1
                portraits.append(BankPortrait(pid, f"{pid:064x}", kind, d, used))
    return portraits


SETTINGS = PlanSettings(disorders=DISORDERS, counts={"real_vs_synthetic": 10, "reidentification": 10, "diagnosis": 10})
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


def test_it_puts_one_practice_question_per_category_first():
    plan = plan_session(BANK, SETTINGS, 7)
    practice = [q for q in plan if q.is_practice]
    assert plan[:3] == practice
    assert sorted(q.category for q in practice) == sorted(SETTINGS.counts)


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
def test_the_real_portraits_slot_is_balanced_within_every_session(seed):
    slots = Counter(q.correct_choice for q in timed(plan_session(BANK, SETTINGS, seed)) if q.category == "real_vs_synthetic")
    assert set(slots) == {"A", "B", "C", "D"}
    assert max(slots.values()) - min(slots.values()) <= 1


def test_the_real_portraits_slot_is_uniform_over_many_sessions():
    slots = Counter(
        q.correct_choice for s in range(200) for q in timed(plan_session(BANK, SETTINGS, s))
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
    assert max(slots.values()) - min(slots.values()) <= 1


def test_disorders_are_spread_evenly_within_a_category():
    plan = timed(plan_session(BANK, SETTINGS, 3))
    per_disorder = Counter(q.disorder for q in plan if q.category == "real_vs_synthetic")
    assert max(per_disorder.values()) - min(per_disorder.values()) <= 1


def test_balanced_slots_use_each_slot_once_per_run():
    import random

    slots = balanced_slots(random.Random(0), 12, 4)
    for start in range(0, 12, 4):
        assert sorted(slots[start:start + 4]) == [1, 2, 3, 4]


def test_slot_codes_are_letters():
    assert [slot_code(i) for i in (1, 2, 4)] == ["A", "B", "D"]


def test_it_says_what_is_missing_when_the_bank_is_too_small():
    with pytest.raises(PlanError, match="synthetic"):
        plan_session(bank(synthetic=1), SETTINGS, 0)


def test_it_refuses_more_diagnosis_options_than_disorders():
    settings = PlanSettings(disorders=DISORDERS[:3], counts={"diagnosis": 2})
    with pytest.raises(PlanError, match="only 3"):
        plan_session(BANK, settings, 0)


@pytest.mark.parametrize("seed", range(200))
def test_a_bank_with_little_slack_still_supplies_every_session(seed):
    """4 training and 4 held-out real portraits per disorder cover the 22 training members and ~28 other
    real portraits a session needs; the draw must not strand them in any category order."""
    tight = bank(training=4, held_out=4, synthetic=8)
    plan = plan_session(tight, SETTINGS, seed)
    assert len(timed(plan)) == 30
    assert plan_session(tight, SETTINGS, seed) == plan  # a repeated draw is still a function of the seed
