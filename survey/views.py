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
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from survey import selectors, services, timebase
from survey.access import bearer_token, coordinated_study, session_with_token, studies_for
from survey.delivery import image_response, pad_block, pad_block_of
from survey.forms import ConsentForm, ParticipantIdForm, PortraitUploadForm, ProfileForm, ResumeForm
from survey.image_bank import ImportRejected, bank_import_uploads
from survey.models import Invite, Portrait, QuizSession, Study
from survey.security import invite_attempt_allowed

SESSION_KEY = "survey_access_token"


def participant_access_token(request: HttpRequest) -> str | None:
    """The session token behind the browser's cookie, or an API client's bearer token."""
    return request.session.get(SESSION_KEY) or bearer_token(request.META.get("HTTP_AUTHORIZATION", ""))


def participant_session(request: HttpRequest) -> QuizSession | None:
    """The participant behind the browser's session cookie, or behind an API client's bearer token."""
    token = participant_access_token(request)
    return session_with_token(token) if token else None


def _require_participant(request: HttpRequest) -> QuizSession:
    session = participant_session(request)
    if session is None:
        raise Http404("No survey session: open your invitation link again.")
    return session


RESUME_CODE_KEY = "survey_resume_code"


def _enter(request: HttpRequest, session: QuizSession, *, new_code: bool) -> HttpResponse:
    """This browser now holds the session: a fresh cookie on every entry (a planted one is worthless), and
    a new one-time resume code to show once the participant is in."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = session.access_token
    if new_code:
        request.session[RESUME_CODE_KEY] = services.resume_code_issue(session=session)
    return redirect("survey:quiz")


def _unavailable(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "survey/unavailable.html", {"message": message}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def invite_landing(request: HttpRequest, token: str) -> HttpResponse:
    if not invite_attempt_allowed(request):
        return _unavailable(
            request, "Too many attempts from your network. Please wait a minute and open the link again.", 429
        )
    invite = get_object_or_404(Invite.objects.select_related("study"), token=token)
    try:
        held = services.session_of_holder(invite=invite, holder=participant_session(request))
    except services.QuizError as error:
        return _unavailable(request, str(error), 410)
    if held is not None:
        return _enter(request, held, new_code=False)  # the browser that started it comes back
    if services.invite_session(invite) is not None:
        return _invite_in_use(request, invite)
    ask_id = invite.reusable and invite.study.require_participant_id
    form = ConsentForm(request.POST or None)
    id_form = ParticipantIdForm(request.POST or None, prefix="who") if ask_id else None
    if request.method == "POST" and form.is_valid() and (id_form is None or id_form.is_valid()):
        participant_id = id_form.cleaned_data["participant_id"] if id_form else ""
        try:
            session = services.session_start(invite=invite, participant_id=participant_id)
        except services.InviteInUse:
            return _invite_in_use(request, invite)
        except services.QuizError as error:
            return _unavailable(request, str(error), 410)
        return _enter(request, session, new_code=True)
    return render(request, "survey/consent.html", {"study": invite.study, "form": form, "id_form": id_form})


def _invite_in_use(request: HttpRequest, invite: Invite) -> HttpResponse:
    """A single-use link whose session runs elsewhere: never handed over, only moved with its resume code."""
    form = ResumeForm(request.POST if request.POST.get("code") is not None else None)
    error = None
    if form.is_bound and form.is_valid():
        try:
            session = services.session_resume(invite=invite, code=form.cleaned_data["code"])
        except services.QuizError as refused:
            error = str(refused)
        else:
            return _enter(request, session, new_code=True)
    return render(request, "survey/in_use.html", {"study": invite.study, "form": form, "error": error}, status=409)


@never_cache
@require_GET
def quiz(request: HttpRequest) -> HttpResponse:
    """Wherever the participant is in the survey, this page shows it: the profile form, how the survey
    works, a category's introduction, the current question, or the end page."""
    session = _require_participant(request)
    stage = session.stage
    if stage == QuizSession.Stage.PROFILE:
        return render(request, "survey/profile.html", {"study": session.study, "form": ProfileForm()})
    if stage == QuizSession.Stage.PRACTICE:
        return render(
            request,
            "survey/instructions.html",
            {"study": session.study, "resume_code": request.session.get(RESUME_CODE_KEY)},
        )
    question = services.session_current_question(session=session, serve=False)
    if question is None:
        return _end_page(request, session)
    if question.served_at is None:
        intro = selectors.category_intro(question)
        if intro is not None:  # a block opens: its introduction first, its Start button serves the question
            return render(request, "survey/intro.html", {"study": session.study, "intro": intro, "question": question})
        question = services.question_serve(session=session, question_id=question.pk)
    return render(
        request,
        "survey/question.html",
        {
            "study": session.study,
            "question": selectors.question_view(question, now=timebase.now_of(session)),
            "previous_outcome": selectors.previous_outcome(session),
        },
    )


def _end_page(request: HttpRequest, session: QuizSession) -> HttpResponse:
    session.refresh_from_db()
    scores = selectors.session_scores(session) if session.study.show_feedback else None
    return render(
        request,
        "survey/end.html",
        {"study": session.study, "scores": scores, "ended_by_coordinator": session.ended_at is not None},
    )


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
    request.session.pop(RESUME_CODE_KEY, None)  # shown once, on the instructions page
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
    return JsonResponse({"remaining_ms": selectors.remaining_ms(question, question.stamped_at)})


@never_cache
@require_POST
def question_serve(request: HttpRequest, question_id: int) -> HttpResponse:
    """The Start button of a category's introduction: serve the question it introduces."""
    session = _require_participant(request)
    try:
        services.question_serve(session=session, question_id=question_id)
    except services.QuizError:
        pass  # a resubmitted or stale form: the quiz page shows where the participant is
    return redirect("survey:quiz")


@never_cache
@require_POST
def answer(request: HttpRequest, question_id: int) -> HttpResponse:
    session = _require_participant(request)
    choice = None if request.POST.get("skip") else request.POST.get("choice", "")
    try:
        services.answer_submit(session=session, question_id=question_id, choice=choice)
    except services.TooEarly:
        pass  # before the question was armed: nothing is stored, and the question is still the current one
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
    """A portrait, only for the participant it was shown to, or for staff coordinating its study."""
    access = participant_access_token(request)
    own = selectors.participant_image(token, access) if access else None
    if own is not None:
        response = image_response(own.content_hash, pad_to=pad_block_of(own.study_id, own.study_pad_bytes))
        services.portrait_delivered(shown=own.shown)  # may start the question's clock (survey/clock.py)
        return response
    if request.user.is_active and request.user.is_staff:
        shown = selectors.shown_image_for_staff(token, studies=studies_for(request.user))
        if shown is not None:
            return image_response(shown.portrait.content_hash, pad_to=pad_block(shown.session.study))
    raise Http404("No such image.")


@never_cache
@staff_member_required
@require_GET
def bank_image(request: HttpRequest, portrait_id: int) -> HttpResponse:
    """A bank portrait for the admin, to the coordinators of its study only (in a real study these are
    patients' photographs)."""
    portrait = get_object_or_404(
        Portrait.objects.select_related("study"), pk=portrait_id, study__in=studies_for(request.user)
    )
    return image_response(portrait.content_hash, pad_to=pad_block(portrait.study))


@never_cache
@staff_member_required
@require_GET
def study_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    """A coordinator's live view of one of their studies."""
    from survey.dashboard import DASHBOARD_PAGE_REFRESH_S, dashboard_view

    study = coordinated_study(request.user, slug)
    view = dashboard_view(study)  # the worker's last figures; never computed here (they cost seconds)
    return render(
        request,
        "survey/dashboard.html",
        {
            "study": study,
            "dashboard": view.dashboard,
            "figures": view,
            "title": f"Dashboard: {study.title}",
            "refresh_s": DASHBOARD_PAGE_REFRESH_S if view.updating else None,
        },
    )


@never_cache
@staff_member_required
@require_GET
def study_items(request: HttpRequest, slug: str) -> HttpResponse:
    """The dashboard's item view: per portrait, how experts answered about it; the synthetic portraits
    that fooled them most, as thumbnails."""
    from survey.dashboard import cached_item_view  # pandas only when asked for

    study = coordinated_study(request.user, slug)
    return render(
        request,
        "survey/items.html",
        {"study": study, "items": cached_item_view(study), "title": f"Portraits: {study.title}"},
    )


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def study_portraits(request: HttpRequest, slug: str) -> HttpResponse:
    """A coordinator's image bank page: add portraits with their manifest (all or nothing, every problem
    listed), and see what the bank holds, in which roles, and whether the study is ready."""
    study = coordinated_study(request.user, slug)
    form = PortraitUploadForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            added = bank_import_uploads(
                study=study, manifest=form.cleaned_data["manifest"].read(), files=form.uploaded_files()
            )
        except ImportRejected as rejected:
            problems = rejected.problems
        else:
            messages.success(request, f"Added {len(added)} portrait(s) to the bank.")
            return redirect("survey:study-portraits", slug=study.slug)
    return render(
        request,
        "survey/portraits.html",
        {
            "study": study,
            "form": form,
            "problems": problems,
            "bank": selectors.bank_overview(study),
            "readiness": selectors.study_readiness(study),
            "title": f"Image bank: {study.title}",
        },
        status=400 if problems else 200,
    )


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness with one trivial database query (for load balancers, and the load tool's baseline); it
    tells the public nothing else."""
    Study.objects.exists()
    return JsonResponse({"ok": True})


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """The site's root: what this site is, for an expert without a link and a coordinator looking for the admin."""
    return render(request, "survey/landing.html", {"title": "Expert survey"})
