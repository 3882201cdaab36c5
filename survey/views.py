"""The participant's pages. Thin: each view calls one service or selector and renders or redirects.

Every response here is `never_cache` (Cache-Control: no-store): a question page must never come back
from a cache, and a portrait must not stay on the participant's disk.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from survey import selectors, services
from survey.api.auth import coordinated_study, session_from_authorization
from survey.delivery import image_response
from survey.forms import ConsentForm, ProfileForm
from survey.models import Invite, Portrait, QuizSession, Study
from survey.security import invite_attempt_allowed

SESSION_KEY = "survey_access_token"


def participant_session(request: HttpRequest) -> QuizSession | None:
    """The participant behind the browser's session cookie, or behind an API client's bearer token."""
    token = request.session.get(SESSION_KEY)
    if token:
        return QuizSession.objects.select_related("study").filter(access_token=token).first()
    return session_from_authorization(request.META.get("HTTP_AUTHORIZATION", ""))


def _require_participant(request: HttpRequest) -> QuizSession:
    session = participant_session(request)
    if session is None:
        raise Http404("No survey session: open your invitation link again.")
    return session


@never_cache
@require_http_methods(["GET", "POST"])
def invite_landing(request: HttpRequest, token: str) -> HttpResponse:
    if not invite_attempt_allowed(request):
        return render(request, "survey/unavailable.html",
                      {"message": "Too many attempts from your network. Please wait a minute and open the link again."},
                      status=429)
    invite = get_object_or_404(Invite.objects.select_related("study"), token=token)
    try:
        resumable = services.session_resumable(invite=invite)
    except services.QuizError as error:
        return render(request, "survey/unavailable.html", {"message": str(error)}, status=410)
    if resumable is not None:
        request.session[SESSION_KEY] = resumable.access_token
        return redirect("survey:quiz")
    current = participant_session(request)
    if current is not None and current.invite_id == invite.pk:
        return redirect("survey:quiz")  # this browser already started a session on this (reusable) link
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            session = services.session_start(invite=invite)
        except services.QuizError as error:
            return render(request, "survey/unavailable.html", {"message": str(error)}, status=410)
        request.session.cycle_key()  # a fresh cookie for the participant's session
        request.session[SESSION_KEY] = session.access_token
        return redirect("survey:quiz")
    return render(request, "survey/consent.html", {"study": invite.study, "form": form})


@never_cache
@require_GET
def quiz(request: HttpRequest) -> HttpResponse:
    """Wherever the participant is in the survey, this page shows it."""
    session = _require_participant(request)
    stage = session.stage
    if stage == QuizSession.Stage.PROFILE:
        return render(request, "survey/profile.html", {"study": session.study, "form": ProfileForm()})
    if stage == QuizSession.Stage.PRACTICE:
        practice = services.practice_questions_serve(session=session)
        views = [selectors.question_view(q) for q in practice]
        return render(request, "survey/practice.html", {"study": session.study, "questions": views})
    question = services.session_current_question(session=session)
    if question is None:
        return _end_page(request, session)
    view = selectors.question_view(question)
    return render(request, "survey/question.html", {"study": session.study, "question": view})


def _end_page(request: HttpRequest, session: QuizSession) -> HttpResponse:
    session.refresh_from_db()
    scores = selectors.session_scores(session) if session.study.show_feedback else None
    return render(request, "survey/end.html", {"study": session.study, "scores": scores})


@never_cache
@require_POST
def profile_submit(request: HttpRequest) -> HttpResponse:
    session = _require_participant(request)
    form = ProfileForm(request.POST)
    if not form.is_valid():
        return render(request, "survey/profile.html", {"study": session.study, "form": form}, status=400)
    try:
        services.session_profile_submit(session=session, **form.cleaned_data)
    except services.WrongStage:
        pass  # a resubmitted form: the session has moved on, show where it is
    return redirect("survey:quiz")


@never_cache
@require_POST
def quiz_begin(request: HttpRequest) -> HttpResponse:
    session = _require_participant(request)
    try:
        services.session_quiz_begin(session=session)
    except services.WrongStage:
        pass
    return redirect("survey:quiz")


@never_cache
@require_POST
def question_clock_start(request: HttpRequest, question_id: int) -> JsonResponse:
    """Called by the page once every portrait of the question has loaded and is about to be revealed."""
    session = _require_participant(request)
    try:
        question = services.question_clock_start(session=session, question_id=question_id)
    except services.AlreadyAnswered:
        return JsonResponse({"error": "already_answered", "next": reverse("survey:quiz")}, status=409)
    except services.QuizError as error:
        return JsonResponse({"error": "not_current", "message": str(error), "next": reverse("survey:quiz")}, status=409)
    return JsonResponse({"remaining_ms": selectors.remaining_ms(question, timezone.now())})


@never_cache
@require_POST
def answer(request: HttpRequest, question_id: int) -> HttpResponse:
    session = _require_participant(request)
    choice = None if request.POST.get("skip") else request.POST.get("choice", "")
    try:
        services.answer_submit(session=session, question_id=question_id, choice=choice)
    except services.AlreadyAnswered:
        messages.info(request, "That question had already been answered; your first answer stands.")
    except services.QuizError as error:
        messages.warning(request, str(error))
    return redirect("survey:quiz")


@never_cache
@require_POST
def expire(request: HttpRequest, question_id: int) -> HttpResponse:
    session = _require_participant(request)
    try:
        services.question_expire(session=session, question_id=question_id)
    except services.QuizError:
        pass  # not yet expired, or already recorded: the quiz page shows the true state
    return redirect("survey:quiz")


@never_cache
@require_GET
def portrait(request: HttpRequest, token: str) -> HttpResponse:
    """A portrait, only for the participant it was shown to, or for staff."""
    session = participant_session(request)
    shown = selectors.shown_image_for_participant(token, session) if session else None
    if shown is None and request.user.is_active and request.user.is_staff:
        shown = selectors.shown_image_for_staff(token)
    if shown is None:
        raise Http404("No such image.")
    return image_response(shown.portrait.content_hash)


@never_cache
@staff_member_required
@require_GET
def bank_image(request: HttpRequest, portrait_id: int) -> HttpResponse:
    """A bank portrait for the coordinators' admin."""
    return image_response(get_object_or_404(Portrait, pk=portrait_id).content_hash)


@never_cache
@staff_member_required
@require_GET
def study_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """A coordinator's live view of one of their studies."""
    from survey.dashboard import (
        study_dashboard as build,  # pandas and matplotlib only when asked for
    )

    study = coordinated_study(request.user, slug)
    return render(request, "survey/dashboard.html", {"study": study, "dashboard": build(study),
                                                     "title": f"Dashboard: {study.title}"})


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness with one trivial database query: for load balancers, and the load tool's baseline."""
    return JsonResponse({"ok": True, "studies": Study.objects.count()})
