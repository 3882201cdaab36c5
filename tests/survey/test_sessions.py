"""Starting sessions from invites, and rebuilding a session's questions from its stored seed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from survey import services
from survey.models import QuizSession, ShownImage
from tests.survey.factories import InviteFactory, PortraitFactory


def stored_plan(session: QuizSession) -> list[tuple]:
    rows = []
    for q in session.questions.order_by("is_practice", "position").prefetch_related("options", "images"):
        stimuli = tuple(i.portrait_id for i in q.images.filter(role=ShownImage.Role.STIMULUS).order_by("slot"))
        options = tuple((o.slot, o.code, o.image.portrait_id if o.image else None) for o in q.options.order_by("slot"))
        rows.append(
            (
                q.is_practice,
                q.position,
                q.category,
                q.disorder.code,
                q.stimulus_kind,
                q.correct_choice,
                stimuli,
                options,
            )
        )
    return rows


def planned(plan) -> list[tuple]:
    rows = [
        (
            p.is_practice,
            p.position,
            p.category,
            p.disorder,
            p.stimulus_kind,
            p.correct_choice,
            p.stimulus_portrait_ids,
            tuple((o.slot, o.code, o.portrait_id) for o in p.options),
        )
        for p in plan
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def test_the_stored_seed_rebuilds_the_sessions_questions_exactly(invite):
    session = services.session_start(invite=invite)
    assert stored_plan(session) == planned(services.session_plan_rebuild(session))


def test_portraits_imported_after_the_session_do_not_change_its_rebuild(invite, study, disorders):
    session = services.session_start(invite=invite)
    for disorder in disorders:
        PortraitFactory.create_batch(3, study=study, disorder=disorder, kind="synthetic")
    assert stored_plan(session) == planned(services.session_plan_rebuild(session))


def test_sessions_get_different_seeds_and_questions(study):
    a = services.session_start(invite=InviteFactory(study=study))
    b = services.session_start(invite=InviteFactory(study=study))
    assert a.seed != b.seed
    assert stored_plan(a) != stored_plan(b)


def test_no_portrait_of_a_person_is_shown_twice_to_a_participant(invite):
    session = services.session_start(invite=invite)
    people = session.shown_images.exclude(portrait__kind="latent_average")
    assert people.count() == people.values("portrait").distinct().count()
    assert people.count() >= 30 * 2


def test_the_database_refuses_a_repeated_portrait_in_a_session(invite):
    from django.db import IntegrityError

    session = services.session_start(invite=invite)
    shown = session.shown_images.exclude(portrait__kind="latent_average").first()
    with pytest.raises(IntegrityError):
        ShownImage.objects.create(
            session=session, question=shown.question, portrait=shown.portrait, role="option", slot=9
        )


def test_a_single_use_invite_starts_one_session_and_is_not_handed_over(invite):
    services.session_start(invite=invite)
    with pytest.raises(services.InviteInUse):
        services.session_start(invite=invite)
    assert QuizSession.objects.filter(invite=invite).count() == 1


def test_a_reusable_invite_without_identifiers_starts_a_new_session_each_time(study):
    study.require_participant_id = False
    study.save()
    invite = InviteFactory(study=study, reusable=True)
    assert services.session_start(invite=invite).pk != services.session_start(invite=invite).pk


@pytest.mark.parametrize(
    "change",
    [{"revoked_at": timezone.now() - timedelta(minutes=1)}, {"expires_at": timezone.now() - timedelta(minutes=1)}],
)
def test_a_revoked_or_expired_invite_starts_nothing(study, change):
    invite = InviteFactory(study=study, **change)
    with pytest.raises(services.InviteUnusable):
        services.session_start(invite=invite)
    assert not QuizSession.objects.exists()


def test_a_closed_study_starts_nothing(study, invite):
    study.is_open = False
    study.save()
    with pytest.raises(services.StudyClosed):
        services.session_start(invite=invite)


def test_a_bank_too_small_for_the_study_starts_nothing_and_says_why(study, invite):
    study.portraits.filter(kind="synthetic").delete()
    with pytest.raises(services.StudyNotReady) as refused:
        services.session_start(invite=invite)
    assert "synthetic" in refused.value.detail
    assert not QuizSession.objects.exists()


def test_settings_in_force_are_copied_onto_questions(invite, study):
    session = services.session_start(invite=invite)
    study.time_limit_diagnosis_ms = 99_000
    study.save()
    question = session.questions.filter(category="diagnosis").first()
    assert question.time_limit_ms == 15_000
