"""manage.py build_demo: a demo study anyone can take, from phantoms and the bundled generator."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from survey import services
from survey.leakage import audit_study
from survey.models import Invite, Portrait, Study

BUNDLED = "fixtures/models/generator-demo64.safetensors"


def build(*args: str) -> str:
    out = io.StringIO()
    call_command("build_demo", *args, "--synthetic-per-disorder", "11", stdout=out)
    return out.getvalue()


def take_a_session(study: Study) -> None:
    """Practice and timed questions, each answered a second after it is shown (the demo arms its questions)."""
    session = services.session_start(invite=Invite.objects.filter(study=study).first())
    services.session_profile_submit(session=session, profession="other", years_experience=1)
    services.session_quiz_begin(session=session)
    now = timezone.now()
    while (question := services.session_current_question(session=session, now=now)) is not None:
        services.question_clock_start(session=session, question_id=question.pk, now=now)
        now += timedelta(seconds=1)
        services.answer_submit(session=session, question_id=question.pk, choice=question.correct_choice, now=now)


def test_the_renderer_only_demo_is_complete_and_leaks_nothing(db, image_bank_root):
    output = build("--renderer-only")
    study = Study.objects.get(slug="demo")
    assert output.count("  pretend expert ") == 8 and "user: coordinator  password: " in output
    assert not Invite.objects.filter(study=study, reusable=True).exists()  # one link per person, single-use
    assert set(Portrait.objects.filter(study=study, kind="synthetic").values_list("checkpoint_id", flat=True)) == {
        "phantom-renderer"}  # provenance says where the pool came from
    take_a_session(study)
    assert audit_study(study).clean


def test_the_demo_draws_its_pool_from_the_bundled_generator(db, image_bank_root):
    pytest.importorskip("torch")
    build()
    study = Study.objects.get(slug="demo")
    generated = Portrait.objects.filter(study=study, kind__in=["synthetic", "latent_average"])
    assert generated.count() == 8 * 11 + 8
    checkpoints = set(generated.values_list("checkpoint_id", flat=True))
    assert len(checkpoints) == 1 and "phantom" not in checkpoints.pop()
    take_a_session(study)


def test_rebuilding_the_demo_replaces_it_even_after_sessions(db, image_bank_root):
    build("--renderer-only")
    take_a_session(Study.objects.get(slug="demo"))
    build("--renderer-only")
    assert Study.objects.filter(slug="demo").count() == 1
    assert not Study.objects.get(slug="demo").sessions.exists()
