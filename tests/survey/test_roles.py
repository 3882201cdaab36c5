"""Each portrait plays one part for the study's lifetime (survey/roles.py), drawn when the bank is frozen."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from survey import roles, selectors, services
from survey.export import render
from survey.models import Portrait
from tests.survey.factories import InviteFactory, PortraitFactory
from tests.survey.test_planning import DISORDERS, SETTINGS, bank

ROLE_SETTINGS = roles.RoleSettings(disorders=DISORDERS, counts=SETTINGS.counts)


def candidates(**sizes) -> list[roles.Candidate]:
    return [roles.Candidate(p.id, p.content_hash, p.pool, p.disorder) for p in bank(assign=False, **sizes)]


def test_the_same_bank_and_seed_give_the_same_roles_and_another_seed_others():
    first = roles.assign_roles(candidates(), ROLE_SETTINGS, seed=1)
    assert roles.assign_roles(list(reversed(candidates())), ROLE_SETTINGS, seed=1) == first
    assert roles.assign_roles(candidates(), ROLE_SETTINGS, seed=2).roles != first.roles


def test_role_pools_keep_the_proportions_a_question_uses_them_in():
    """Three synthetic options per real one, two non-members per member: every face of a category is
    shown equally often in expectation, so how often a face recurs says nothing of its kind."""
    assignment = roles.assign_roles(candidates(training=12, held_out=12, synthetic=24), ROLE_SETTINGS, seed=3)
    assert assignment.units == 2
    for disorder in DISORDERS:
        q = assignment.quotas
        assert q[roles.REAL_VS_SYNTHETIC_SYNTHETIC][disorder] == 3 * q[roles.REAL_VS_SYNTHETIC_REAL][disorder]
        assert q[roles.REIDENTIFICATION_NON_MEMBER][disorder] == 2 * q[roles.REIDENTIFICATION_MEMBER][disorder]


def test_members_and_real_options_come_from_the_training_set_and_non_members_from_outside_it():
    portraits = {c.id: c for c in candidates()}
    assignment = roles.assign_roles(portraits.values(), ROLE_SETTINGS, seed=4)
    expected = {
        roles.REAL_VS_SYNTHETIC_REAL: {"real_training"},
        roles.REIDENTIFICATION_MEMBER: {"real_training"},
        roles.REIDENTIFICATION_NON_MEMBER: {"real_held_out"},
        roles.REAL_VS_SYNTHETIC_SYNTHETIC: {"synthetic"},
        roles.DIAGNOSIS_SYNTHETIC: {"synthetic"},
    }
    for role, pools in expected.items():
        assert {portraits[pid].pool for pid, r in assignment.roles.items() if r == role} == pools


def test_the_expected_number_of_sessions_caps_how_much_of_the_bank_is_used():
    small_study = roles.RoleSettings(disorders=DISORDERS, counts=SETTINGS.counts, expected_sessions=1)
    assignment = roles.assign_roles(candidates(training=12, held_out=12, synthetic=24), small_study, seed=3)
    assert assignment.units == 1


def test_a_bank_too_small_names_the_missing_portraits_per_disorder():
    with pytest.raises(roles.RoleError) as refused:
        roles.assign_roles(candidates(training=3), ROLE_SETTINGS, seed=0)
    assert "phx0: 1 more real portraits used in training" in str(refused.value)


# --- in the database ---------------------------------------------------------------------------------


def test_the_first_session_freezes_the_bank_and_later_portraits_are_never_shown(study, disorders):
    assert study.bank_frozen_at is None and not Portrait.objects.exclude(role="").exists()
    services.session_start(invite=InviteFactory(study=study))
    study.refresh_from_db()
    assert study.bank_frozen_at is not None
    late = PortraitFactory(study=study, disorder=disorders[0], kind="real", used_in_training=True)
    for _ in range(5):
        session = services.session_start(invite=InviteFactory(study=study))
        assert not session.shown_images.filter(portrait=late).exists()
    late.refresh_from_db()
    assert late.role == ""


def test_a_rebuilt_session_equals_the_stored_one(study):
    session = services.session_start(invite=InviteFactory(study=study))
    rebuilt = services.session_plan_rebuild(session)
    stored = [
        (q.sequence, q.category, q.correct_choice, sorted(q.images.values_list("portrait_id", flat=True)))
        for q in session.questions.order_by("sequence")
    ]
    assert stored == [
        (
            p.sequence,
            p.category,
            p.correct_choice,
            sorted([o.portrait_id for o in p.options if o.portrait_id] + list(p.stimulus_portrait_ids)),
        )
        for p in rebuilt
    ]


def test_the_settings_export_records_every_portraits_role_and_the_quotas(study):
    services.session_start(invite=InviteFactory(study=study))
    exported = json.loads(render(study, "settings", "json"))
    held = Counter(p["role"] for p in exported["image_bank"])
    assert held[roles.REAL_VS_SYNTHETIC_REAL] == sum(exported["role_quotas"][roles.REAL_VS_SYNTHETIC_REAL].values())
    assert set(exported["role_quotas"]) >= set(roles.TIMED_ROLES)
    assert exported["study"]["seed"] == study.seed


def test_the_readiness_check_names_what_is_missing(study):
    assert selectors.study_readiness(study) == []
    doomed = list(
        study.portraits.filter(kind="real", used_in_training=True, disorder__code="phx3").values_list("pk", flat=True)[
            :3
        ]
    )
    Portrait.objects.filter(pk__in=doomed).delete()
    problems = selectors.study_readiness(study)
    assert problems and "phx3: 1 more real portraits used in training" in problems[0]
    with pytest.raises(services.StudyNotReady) as refused:
        services.session_start(invite=InviteFactory(study=study))
    assert "phx3" in refused.value.detail
