"""The coordinators' admin: studies and their settings, the image bank, invites and progress.

Sessions, questions and answers are read-only here: they are the study's record, written only by the
participant flow's services. A coordinator sees and changes only the studies that list them (and their
portraits, invites, sessions and answers); superusers see everything. The rule is `studies_for`, the
same one the coordinator API uses.
"""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Q
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from survey import selectors, services
from survey.access import studies_for
from survey.admin_forms import SECONDS_FIELDS, IssueInvitesForm, StudyAdminForm
from survey.models import Answer, Disorder, Invite, Outcome, Portrait, QuizSession, Study


def invite_link(invite: Invite) -> str:
    return settings.SITE_URL + reverse("survey:invite", args=[invite.token])


class FencedByStudy(admin.ModelAdmin):
    """Rows of the studies this user coordinates only; `study_path` leads from a row to its study."""

    study_path = "study"

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        return rows.filter(**{f"{self.study_path}__in": studies_for(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "study" and not request.user.is_superuser:
            kwargs["queryset"] = studies_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Disorder)
class DisorderAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(Study)
class StudyAdmin(FencedByStudy):
    study_path = "pk"
    form = StudyAdminForm

    list_display = ["title", "slug", "is_open", "bank_size", "progress", "dashboard"]
    list_filter = ["is_open"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["disorders"]
    actions = ["issue_invites"]
    readonly_fields = ["progress_detail", "readiness", "bank_frozen_at"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "is_open", "disorders", "consent_text", "instructions", "show_feedback"]}),
        ("Participants", {"fields": ["expected_sessions", "require_participant_id"]}),
        (
            "Questions per session",
            {"fields": ["n_real_vs_synthetic", "n_reidentification", "n_diagnosis", "with_practice"]},
        ),
        ("Clock (in seconds)", {"fields": list(SECONDS_FIELDS)}),
        ("Image bank", {"fields": ["readiness", "bank_frozen_at"]}),
        (
            "Question layout",
            {
                "fields": [
                    "n_synthetic_in_real_vs_synthetic",
                    "n_candidates_in_reidentification",
                    "n_options_in_diagnosis",
                ]
            },
        ),
        ("Progress", {"fields": ["progress_detail"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_bank_size=Count("portraits", distinct=True))

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # the coordinator who creates a study coordinates it
            obj.coordinators.add(request.user)

    @admin.display(description="Image bank", ordering="_bank_size")
    def bank_size(self, study: Study) -> int:
        return study._bank_size

    @admin.display(description="Sessions (finished / started)")
    def progress(self, study: Study) -> str:
        p = selectors.study_progress(study)
        return f"{p.sessions_finished} / {p.sessions_started}"

    @admin.display(description="Progress")
    def progress_detail(self, study: Study) -> str:
        if study.pk is None:
            return "—"
        p = selectors.study_progress(study)
        return (
            f"{p.sessions_started} sessions started, {p.sessions_finished} finished; "
            f"{p.answered} answers, {p.skipped} skips, {p.timed_out} timeouts"
        )

    @admin.display(description="Ready for sessions?")
    def readiness(self, study: Study) -> str:
        if study.pk is None:
            return "—"
        problems = selectors.study_readiness(study)
        link = format_html('<a href="{}">image bank</a>', reverse("survey:study-portraits", args=[study.slug]))
        link = format_html('{} · <a href="{}">fill the pool</a>', link, reverse("survey:pool-fill", args=[study.slug]))
        if not problems:
            return format_html("Ready. ({})", link)
        return format_html("Not ready: {} ({})", " ".join(problems), link)

    @admin.display(description="Dashboard and exports")
    def dashboard(self, study: Study) -> str:
        return format_html(
            '<a href="{}">open</a> · <a href="{}">image bank</a> · <a href="{}">fill the pool</a> · '
            '<a href="{}">answers CSV</a> · <a href="{}">exports</a>',
            reverse("survey:dashboard", args=[study.slug]),
            reverse("survey:study-portraits", args=[study.slug]),
            reverse("survey:pool-fill", args=[study.slug]),
            reverse("api:study-export", args=[study.slug, "answers", "csv"]),
            reverse("survey:exports", args=[study.slug]),
        )

    @admin.action(description="Issue invite links…")
    def issue_invites(self, request, queryset):
        """An intermediate page asks how many links, their label, single-use or reusable, and expiry; a
        study that is not ready gets none (an expert would consent and then meet "not ready")."""
        form = IssueInvitesForm(request.POST if "apply" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/survey/study/issue_invites.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Issue invite links",
                    "form": form,
                    "studies": queryset,
                    "opts": self.model._meta,
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                },
            )
        values = form.cleaned_data
        issued_to = []
        for study in queryset:
            try:
                invites = services.invites_issue(
                    study=study,
                    count=values["count"],
                    label=values["label_prefix"],
                    numbered=True,
                    reusable=values["reusable"],
                    expires_at=values["expires_at"],
                )
            except services.InvitesRefused as refused:
                self.message_user(request, f"No invites for {study}: {refused}", messages.ERROR)
                continue
            issued_to.append(study)
            self.message_user(request, f"Issued {len(invites)} invite link(s) for {study}.", messages.SUCCESS)
        if len(issued_to) == 1:  # straight to the new links, with their copy buttons and CSV download
            return HttpResponseRedirect(
                reverse("admin:survey_invite_changelist") + f"?study__id__exact={issued_to[0].pk}"
            )
        return None


@admin.register(Portrait)
class PortraitAdmin(FencedByStudy):
    list_display = ["thumbnail", "study", "kind", "disorder", "used_in_training", "checkpoint_id", "seed", "short_hash"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "kind", "role", "disorder", "used_in_training"]
    search_fields = ["content_hash", "original_name", "source", "checkpoint_id"]
    readonly_fields = [f.name for f in Portrait._meta.fields] + ["thumbnail"]

    def has_add_permission(self, request) -> bool:
        return False  # portraits enter only through the normalising pipeline (import_images, fill_pool)

    @admin.display(description="Hash")
    def short_hash(self, portrait: Portrait) -> str:
        return portrait.content_hash[:12]

    @admin.display(description="Image")
    def thumbnail(self, portrait: Portrait) -> str:
        url = reverse("survey:bank-image", args=[portrait.pk])
        return format_html('<img src="{}" alt="" width="64" height="64" loading="lazy">', url)


@admin.register(Invite)
class InviteAdmin(FencedByStudy):
    list_display = ["__str__", "link", "study", "reusable", "expires_at", "revoked_at", "sessions_started"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "reusable"]
    search_fields = ["label"]
    readonly_fields = ["link", "created_at"]
    actions = ["download_csv", "revoke", "revoke_and_end_sessions"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_sessions=Count("sessions"))

    @admin.display(description="Sessions", ordering="_sessions")
    def sessions_started(self, invite: Invite) -> int:
        return invite._sessions

    class Media:
        js = ["survey/copy_link.js"]  # the copy buttons; no inline script
        css = {"all": ["survey/admin.css"]}

    @admin.display(description="Link")
    def link(self, invite: Invite) -> str:
        if invite.pk is None:
            return "—"
        url = invite_link(invite)
        return format_html(
            '<span class="invite-link"><code>{}</code> <button type="button" class="button copy-link" '
            'data-link="{}">Copy</button></span>',
            url,
            url,
        )

    @admin.action(description="Download the selected links as CSV (label, link, expiry)")
    def download_csv(self, request, queryset) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="invites.csv"'
        writer = csv.writer(response)
        writer.writerow(["label", "link", "reusable", "expires_at", "revoked_at"])
        for invite in queryset.order_by("created_at", "pk"):
            writer.writerow(
                [
                    invite.label,
                    invite_link(invite),
                    int(invite.reusable),
                    invite.expires_at.isoformat() if invite.expires_at else "",
                    invite.revoked_at.isoformat() if invite.revoked_at else "",
                ]
            )
        return response

    @admin.action(description="Revoke the selected links (running sessions go on)")
    def revoke(self, request, queryset) -> None:
        for invite in queryset:
            services.invite_revoke(invite=invite)
        self.message_user(request, f"Revoked {queryset.count()} link(s).", messages.SUCCESS)

    @admin.action(description="Revoke the selected links and end the sessions started from them")
    def revoke_and_end_sessions(self, request, queryset) -> None:
        ended = sum(services.invite_revoke(invite=invite, end_sessions=True) for invite in queryset)
        self.message_user(
            request, f"Revoked {queryset.count()} link(s) and ended {ended} running session(s).", messages.SUCCESS
        )


class ReadOnlyAdmin(FencedByStudy):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QuizSession)
class QuizSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "pseudonym",
        "study",
        "stage",
        "started_at",
        "finished_at",
        "ended_at",
        "answered",
        "skipped",
        "timed_out",
    ]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "stage"]
    search_fields = ["pseudonym"]
    exclude = ["access_token", "participant_key", "resume_code_hash"]
    actions = ["end_sessions"]

    @admin.action(description="End the selected sessions (they accept no more answers)")
    def end_sessions(self, request, queryset) -> None:
        running = queryset.exclude(stage=QuizSession.Stage.FINISHED)
        count = running.count()
        for session in running:
            services.session_end(session=session, reason=f"ended by {request.user.get_username()} in the admin")
        self.message_user(request, f"Ended {count} running session(s).", messages.SUCCESS)

    def get_queryset(self, request):
        questions = Q(questions__is_practice=False)
        return (
            super()
            .get_queryset(request)
            .annotate(
                _answered=Count("questions", filter=questions & Q(questions__answer__outcome=Outcome.ANSWERED)),
                _skipped=Count("questions", filter=questions & Q(questions__answer__outcome=Outcome.SKIPPED)),
                _timed_out=Count("questions", filter=questions & Q(questions__answer__outcome=Outcome.TIMEOUT)),
            )
        )

    @admin.display(ordering="_answered")
    def answered(self, session: QuizSession) -> int:
        return session._answered

    @admin.display(ordering="_skipped")
    def skipped(self, session: QuizSession) -> int:
        return session._skipped

    @admin.display(ordering="_timed_out", description="timeouts")
    def timed_out(self, session: QuizSession) -> int:
        return session._timed_out


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    study_path = "question__session__study"

    list_display = ["question", "outcome", "choice", "correct", "response_ms", "answered_at"]
    list_filter = ["outcome", "question__category", ("question__session__study", admin.RelatedOnlyFieldListFilter)]
