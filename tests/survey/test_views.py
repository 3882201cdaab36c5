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
from survey.models import Answer, Category, Outcome, Question, QuizSession
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
    """The question the participant is on, through the introduction that opens a category if there is one."""
    html = client.get(reverse("survey:quiz")).content.decode()
    intro = re.search(r'action="(/quiz/q/\d+/serve/)"', html)
    if intro:
        assert client.post(intro.group(1)).status_code == 302
        html = client.get(reverse("survey:quiz")).content.decode()
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
    response = client.post(
        reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice}, follow=True
    )
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
        # The prompt and the category's name name the categories' concepts by design; nothing else may.
        lowered = re.sub(r'<h1 class="prompt">.*?</h1>', "", html, flags=re.DOTALL).lower()
        lowered = lowered.replace(Category(question.category).label.lower(), "").replace(question.category, "")
        for word in ("synthetic", "real portrait", "latent_average", "training", "used_in", ".png", ".jpg", "correct"):
            assert word not in lowered, (word, question.category)
        for shown in question.images.select_related("portrait"):
            assert shown.portrait.content_hash not in html
        figures = re.findall(r'<div class="candidate" data-portrait>(.*?)</div>', html, flags=re.DOTALL)
        assert len(figures) == (0 if question.category == "diagnosis" else question.options.count())
        varying = r'/img/[^"]+|alt="[^"]*"|value="[^"]*"|aria-label="[^"]*"|<span class="letter"[^>]*>[^<]*</span>'
        shapes = {re.sub(varying, "", f) for f in figures}
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
            body = response.getvalue()  # streamed from the bank's storage
            assert len(body) == int(response["Content-Length"])
            image = Image.open(__import__("io").BytesIO(body))
            headers = tuple(
                sorted((k, v) for k, v in response.items() if k.lower() not in {"content-length", "expires"})
            )  # both vary per response, not per kind
            seen.setdefault(shown.portrait.kind, set()).add(
                (image.format, image.mode, image.size, tuple(sorted(image.info)), headers)
            )
        client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice})
    assert set(seen) == {"real", "synthetic", "latent_average"}
    signatures = {frozenset(v) for v in seen.values()}
    assert len(signatures) == 1 and len(next(iter(signatures))) == 1, seen
    ((fmt, mode, size, info, _),) = next(iter(signatures))
    assert (fmt, mode, size) == ("JPEG", "RGB", (256, 256))
    assert not {"exif", "icc_profile", "comment"} & set(info)


def test_the_health_endpoint_tells_the_public_only_that_it_is_up(client, study):
    assert client.get("/healthz").json() == {"ok": True}


def test_the_site_root_says_what_the_site_is_and_links_the_admin(client, db):
    page = client.get("/")
    assert page.status_code == 200 and b"/admin/" in page.content and b"invitation" in page.content


def test_reopening_a_reusable_link_in_the_same_browser_resumes_its_session(client, real_study):
    invite = InviteFactory(study=real_study, reusable=True)
    url = reverse("survey:invite", args=[invite.token])
    client.post(url, {"agree": "on", "who-participant_id": "expert-3"})
    assert client.get(url).url == reverse("survey:quiz")
    assert QuizSession.objects.filter(invite=invite).count() == 1


# --- the participant's pages around the questions (issue 12) --------------------------------------------


@pytest.fixture
def practice_study(disorders, image_bank_root):
    """A study as participants meet it: practice questions first, answers armed 400 ms after the reveal."""
    study = StudyFactory(
        disorders=disorders,
        n_real_vs_synthetic=4,
        n_reidentification=4,
        n_diagnosis=4,
        with_practice=True,
        arming_delay_ms=400,
    )
    rng = np.random.default_rng(1)
    for disorder in disorders:
        for kind, used, n in [
            ("real", True, 4),
            ("real", False, 4),
            ("synthetic", None, 8),
            ("latent_average", None, 1),
        ]:
            for _ in range(n):
                noise = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
                portrait_add(study=study, image=noise, kind=kind, disorder_code=disorder.code, used_in_training=used)
    return study


def test_how_the_survey_works_comes_before_the_quiz_and_serves_nothing(client, practice_study):
    invite = InviteFactory(study=practice_study)
    client.post(reverse("survey:invite", args=[invite.token]), {"agree": "on"})
    client.post(reverse("survey:profile"), {"profession": "clinical_geneticist", "years_experience": "9"})
    page = client.get(reverse("survey:quiz")).content.decode()
    assert "How the survey works" in page and "needs JavaScript" in page
    assert "<kbd>S</kbd>" in page and f'action="{reverse("survey:begin")}"' in page
    assert not Question.objects.filter(session__invite=invite, served_at__isnull=False).exists()


def test_each_category_opens_with_an_introduction_and_a_practice_question_with_feedback(client, practice_study):
    with time_machine.travel(T0, tick=False) as clock:
        session = begin(client, practice_study)
        intro = client.get(reverse("survey:quiz")).content.decode()
        practice = session.questions.order_by("sequence").first()
        assert practice.is_practice and "Part 1 of 3" in intro and "one practice question" in intro
        assert f'action="{reverse("survey:serve", args=[practice.pk])}"' in intro
        assert not session.questions.filter(served_at__isnull=False).exists()  # the introduction serves nothing

        question, page = current_question(client)
        assert question.pk == practice.pk and "Practice question" in page
        client.post(reverse("survey:clock-start", args=[question.pk]))
        clock.shift(timedelta(seconds=3))
        wrong = question.options.exclude(code=question.correct_choice).order_by("slot").first()
        assert client.post(reverse("survey:answer", args=[question.pk]), {"choice": wrong.code}).status_code == 302
        feedback = client.get(reverse("survey:quiz")).content.decode()
        right = question.options.get(code=question.correct_choice).label
        assert f"You chose <strong>{wrong.label}</strong>; the right answer was <strong>{right}</strong>" in feedback
        assert "timed questions" in feedback

        timed, page = current_question(client)
        assert not timed.is_practice and timed.category == practice.category and "Question 1 of 12" in page


def test_an_answer_before_the_question_arms_stores_nothing_and_says_nothing(client, practice_study):
    with time_machine.travel(T0, tick=False) as clock:
        begin(client, practice_study)
        question, _ = current_question(client)
        client.post(reverse("survey:clock-start", args=[question.pk]))
        clock.shift(timedelta(milliseconds=150))  # a click meant for the question before
        response = client.post(
            reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice}, follow=True
        )
        assert not Answer.objects.filter(question=question).exists()
        assert (
            b'class="messages"' not in response.content and f"/quiz/q/{question.pk}/start/" in response.content.decode()
        )
        clock.shift(timedelta(milliseconds=400))
        client.post(reverse("survey:answer", args=[question.pk]), {"choice": question.correct_choice})
        assert Answer.objects.get(question=question).outcome == Outcome.ANSWERED


def test_the_question_page_leaves_the_portraits_to_the_script(client, practice_study):
    begin(client, practice_study)
    question, html = current_question(client)
    assert not re.search(r'\ssrc="/img/', html)  # fetched only when they are about to be shown
    assert len(re.findall(r'\sdata-src="/img/', html)) == question.images.count()
    assert "needs JavaScript" in html
    buttons = re.findall(r'<button type="submit"[^>]*>', html)
    assert buttons and all(" disabled" in b for b in buttons)  # armed by the script only
    assert f'data-arming-delay-ms="{practice_study.arming_delay_ms}"' in html


def test_the_pause_between_questions_names_how_the_one_before_ended(client, real_study):
    begin(client, real_study)
    outcomes = []
    for action in ("answer", "skip", None):
        question, html = current_question(client)
        outcomes.append(re.search(r'data-previous-outcome="([^"]*)"', html).group(1))
        if action is not None:
            data = {"choice": question.correct_choice} if action == "answer" else {"skip": "1"}
            client.post(reverse("survey:answer", args=[question.pk]), data)
    assert outcomes == ["", "answered", "skipped"]
