"""The participant's pages: the whole flow, the clock seen through HTTP, image access and what the
browser receives."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import time_machine
from django.urls import reverse
from PIL import Image

from survey.image_bank import portrait_add
from survey.models import Answer, Outcome, Question, QuizSession
from tests.survey.factories import InviteFactory, StudyFactory

T0 = datetime(2031, 3, 2, 10, 0, tzinfo=UTC)  # after the fixtures were made


@pytest.fixture
def real_study(disorders, image_bank_root):
    """A study whose portraits are stored files, so pages and images can be fetched for real."""
    study = StudyFactory(disorders=disorders, n_real_vs_synthetic=4, n_reidentification=4, n_diagnosis=4)
    rng = np.random.default_rng(0)
    for disorder in disorders:
        def add(kind, used=None, code=disorder.code):
            noise = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
            portrait_add(study=study, image=noise, kind=kind, disorder_code=code, used_in_training=used)
        for _ in range(3):
            add("real", True)
            add("real", False)
            add("synthetic")
            add("synthetic")
        add("latent_average")
    return study


def begin(client, study) -> QuizSession:
    invite = InviteFactory(study=study)
    url = reverse("survey:invite", args=[invite.token])
    assert client.get(url).status_code == 200
    assert client.post(url, {"agree": "on"}).status_code == 302
    client.post(reverse("survey:profile"), {"profession": "clinical_geneticist", "years_experience": "9"})
    assert client.get(reverse("survey:quiz")).status_code == 200  # instructions and practice
    client.post(reverse("survey:begin"))
    return QuizSession.objects.get(invite=invite)


def current_question(client) -> tuple[Question, str]:
    page = client.get(reverse("survey:quiz"))
    html = page.content.decode()
    match = re.search(r'data-start-url="/quiz/q/(\d+)/start/"', html)
    assert match, html
    return Question.objects.get(pk=int(match.group(1))), html


def test_it_takes_a_participant_from_invite_to_end_page(client, real_study):
    real_study.show_feedback = True
    real_study.save()
    session = begin(client, real_study)
    for n in range(12):
        question, _ = current_question(client)
        assert client.post(reverse("survey:clock-start", args=[question.pk])).status_code == 200
        data = {"skip": "1"} if n == 0 else {"choice": question.correct_choice}
        assert client.post(reverse("survey:answer", args=[question.pk]), data).status_code == 302
    end = client.get(reverse("survey:quiz"))
    assert b"Thank you" in end.content and b"Correct" in end.content
    session.refresh_from_db()
    assert session.stage == QuizSession.Stage.FINISHED
    assert session.profession == "clinical_geneticist" and session.years_experience == 9
    outcomes = list(Answer.objects.filter(question__session=session).values_list("outcome", flat=True))
    assert outcomes.count(Outcome.SKIPPED) == 1 and outcomes.count(Outcome.ANSWERED) == 11


def test_the_end_page_shows_no_scores_unless_the_study_allows(client, real_study):
    begin(client, real_study)
    for _ in range(12):
        question, _ = current_question(client)
        client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice})
    end = client.get(reverse("survey:quiz")).content
    assert b"Thank you" in end and b"Correct" not in end


def test_consent_is_required(client, real_study):
    invite = InviteFactory(study=real_study)
    response = client.post(reverse("survey:invite", args=[invite.token]), {})
    assert response.status_code == 200 and not QuizSession.objects.exists()
    assert real_study.consent_text.encode() in response.content


def test_an_unknown_invite_is_not_found(client, db):
    assert client.get(reverse("survey:invite", args=["no-such-token"])).status_code == 404


def test_a_reload_shows_the_same_question_with_less_time(client, real_study):
    with time_machine.travel(T0, tick=False) as clock:
        begin(client, real_study)
        question, _ = current_question(client)
        client.post(reverse("survey:clock-start", args=[question.pk]))
        clock.shift(timedelta(seconds=7))
        again, html = current_question(client)
        assert again.pk == question.pk
        assert f'data-remaining-ms="{question.time_limit_ms - 7000}"' in html
        started = client.post(reverse("survey:clock-start", args=[question.pk])).json()
        assert started["remaining_ms"] == question.time_limit_ms - 7000


def test_an_old_question_posted_again_cannot_change_its_answer(client, real_study):
    begin(client, real_study)
    question, _ = current_question(client)
    wrong = question.options.exclude(code=question.correct_choice).first().code
    client.post(reverse("survey:answer", args=[question.pk]), {"choice": wrong})
    response = client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice}, follow=True)
    assert b"first answer stands" in response.content
    assert Answer.objects.get(question=question).choice == wrong


def test_the_page_cannot_time_out_a_question_early(client, real_study):
    with time_machine.travel(T0, tick=False):
        begin(client, real_study)
        question, _ = current_question(client)
        client.post(reverse("survey:clock-start", args=[question.pk]))
        client.post(reverse("survey:expire", args=[question.pk]))
    assert not Answer.objects.filter(question=question).exists()


def test_every_participant_response_is_not_stored_by_caches(client, real_study):
    begin(client, real_study)
    question, html = current_question(client)
    page = client.get(reverse("survey:quiz"))
    token = re.search(r'src="/img/([^"]+)"', html).group(1)
    image = client.get(reverse("survey:portrait", args=[token]))
    for response in (page, image):
        assert "no-store" in response["Cache-Control"]


def test_a_participant_gets_only_images_of_questions_already_shown(client, real_study):
    session = begin(client, real_study)
    question, html = current_question(client)
    own = re.findall(r'src="/img/([^"]+)"', html)
    assert own and all(client.get(reverse("survey:portrait", args=[t])).status_code == 200 for t in own)
    future = session.shown_images.filter(question__position=question.position + 1).first()
    assert client.get(reverse("survey:portrait", args=[future.token])).status_code == 404


def test_a_participant_cannot_fetch_another_participants_images(client, real_study):
    from django.test import Client

    begin(client, real_study)
    _, html = current_question(client)
    token = re.search(r'src="/img/([^"]+)"', html).group(1)
    stranger = Client()
    begin(stranger, real_study)
    assert stranger.get(reverse("survey:portrait", args=[token])).status_code == 404
    assert Client().get(reverse("survey:portrait", args=[token])).status_code == 404


def test_staff_may_fetch_any_shown_image(client, real_study, admin_client):
    begin(client, real_study)
    _, html = current_question(client)
    token = re.search(r'src="/img/([^"]+)"', html).group(1)
    assert admin_client.get(reverse("survey:portrait", args=[token])).status_code == 200


def test_the_question_page_names_no_kind_no_file_and_no_correct_option(client, real_study):
    session = begin(client, real_study)
    for _ in range(12):
        question, html = current_question(client)
        # The prompt names the categories' concepts by design; nothing else may.
        lowered = re.sub(r'<p class="prompt">.*?</p>', "", html, flags=re.S).lower()
        for word in ("synthetic", "real portrait", "latent_average", "training", "used_in", ".png", ".jpg", "correct"):
            assert word not in lowered, (word, question.category)
        for shown in question.images.select_related("portrait"):
            assert shown.portrait.content_hash not in html
        figures = re.findall(r'<figure class="candidate">(.*?)</figure>', html, flags=re.S)
        shapes = {re.sub(r'/img/[^"]+|alt="[^"]*"|<figcaption>.*?</figcaption>', "", f) for f in figures}
        assert len(shapes) <= 1  # every candidate portrait is marked up the same way
        client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice})
    assert session.questions.filter(answer__isnull=False, is_practice=False).count() == 12


def test_images_of_every_kind_are_delivered_identically(client, real_study):
    begin(client, real_study)
    seen: dict[str, set] = {}
    for _ in range(12):
        question, html = current_question(client)
        for shown in question.images.select_related("portrait"):
            response = client.get(reverse("survey:portrait", args=[shown.token]))
            body = response.content
            image = Image.open(__import__("io").BytesIO(body))
            headers = tuple(sorted((k, v) for k, v in response.items() if k.lower() not in {"content-length", "expires"}))  # both vary per response, not per kind
            seen.setdefault(shown.portrait.kind, set()).add(
                (image.format, image.mode, image.size, tuple(sorted(image.info)), headers))
        client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice})
    assert set(seen) == {"real", "synthetic", "latent_average"}
    signatures = {frozenset(v) for v in seen.values()}
    assert len(signatures) == 1 and len(next(iter(signatures))) == 1, seen
    (fmt, mode, size, info, _), = next(iter(signatures))
    assert (fmt, mode, size) == ("JPEG", "RGB", (256, 256))
    assert not {"exif", "icc_profile", "comment"} & set(info)


def test_the_health_endpoint_touches_the_database(client, db):
    assert client.get("/healthz").json() == {"ok": True, "studies": 0}


def test_reopening_a_reusable_link_in_the_same_browser_resumes_its_session(client, real_study):
    invite = InviteFactory(study=real_study, reusable=True)
    url = reverse("survey:invite", args=[invite.token])
    client.post(url, {"agree": "on"})
    assert client.get(url).url == reverse("survey:quiz")
    assert QuizSession.objects.filter(invite=invite).count() == 1
