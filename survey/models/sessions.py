"""How participants come in and what they see and answer: invites, sessions, the questions drawn for a
session, the images and options a question shows, and its one answer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q

from survey import clock
from survey.clock import ClockStart
from survey.models.choices import Category, Outcome, StimulusKind
from survey.models.defaults import new_pseudonym, new_session_seed, new_url_token
from survey.models.portraits import Portrait
from survey.models.study import Disorder, Study

if TYPE_CHECKING:
    from django.db.transaction import Atomic


class Invite(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invites")
    token = models.CharField(max_length=64, unique=True, default=new_url_token, editable=False)
    label = models.CharField(
        max_length=200, blank=True, help_text="For the coordinator's own bookkeeping; never exported."
    )
    reusable = models.BooleanField(default=False, help_text="A reusable link starts a new session for each visitor.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-created_at"]

    def __str__(self) -> str:
        return self.label or f"Invite {self.pk} to {self.study.slug}"

    def is_usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


class QuizSession(models.Model):
    """One participant's pass through a study. The participant is known only by a pseudonym."""

    class Stage(models.TextChoices):
        PROFILE = "profile", "Profile"
        PRACTICE = "practice", "Instructions and practice"
        QUIZ = "quiz", "Timed quiz"
        FINISHED = "finished", "Finished"

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sessions")
    invite = models.ForeignKey(Invite, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions")
    pseudonym = models.CharField(max_length=32, unique=True, default=new_pseudonym, editable=False)
    access_token = models.CharField(max_length=64, unique=True, default=new_url_token, editable=False)
    seed = models.BigIntegerField(default=new_session_seed, editable=False)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.PROFILE)
    profession = models.CharField(max_length=100, blank=True)
    years_experience = models.PositiveSmallIntegerField(null=True, blank=True)
    consented_at = models.DateTimeField()
    started_at = models.DateTimeField(
        help_text="When the questions were drawn; the bank as of then is the seed's input."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True, help_text="Personal fields erased on request.")
    erasure_reason = models.CharField(max_length=300, blank=True)
    participant_key = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Keyed hash of the identifier a reusable link asked for: one attempt per person.",
    )
    resume_code_hash = models.CharField(max_length=64, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Ended by a coordinator before it finished.")
    end_reason = models.CharField(max_length=300, blank=True)
    # Not a field: set on an instance by services.lock_in_request (the request's outermost atomic block that
    # fetched it FOR UPDATE); absent otherwise, so read with getattr. Declared for the type checker only.
    _locked_by: Atomic

    class Meta:
        ordering = ["study", "-started_at"]
        verbose_name = "participant session"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "participant_key"],
                condition=~Q(participant_key=""),
                name="session_one_attempt_per_participant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pseudonym} in {self.study.slug}"


class Question(models.Model):
    """A question drawn for one session. Settings in force are copied in, so editing a study later never
    changes a running session's clock."""

    session = models.ForeignKey(QuizSession, on_delete=models.CASCADE, related_name="questions")
    is_practice = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(help_text="1-based order in the session (practice counted apart).")
    sequence = models.PositiveSmallIntegerField(
        help_text="1-based order in which the session asks its questions, practice included."
    )
    category = models.CharField(max_length=30, choices=Category.choices)
    disorder = models.ForeignKey(Disorder, on_delete=models.PROTECT, related_name="+")
    stimulus_kind = models.CharField(max_length=20, choices=StimulusKind.choices)
    correct_choice = models.CharField(max_length=64)
    time_limit_ms = models.PositiveIntegerField()
    grace_ms = models.PositiveIntegerField()
    load_allowance_ms = models.PositiveIntegerField()
    transfer_allowance_ms = models.PositiveIntegerField()
    arming_delay_ms = models.PositiveIntegerField()
    served_at = models.DateTimeField(null=True, blank=True, help_text="First sent to the participant.")
    portraits_delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the server had delivered every portrait of the question."
    )
    clock_started_at = models.DateTimeField(null=True, blank=True, help_text="Portraits revealed; the clock runs.")
    clock_rule = models.CharField(
        max_length=30, blank=True, help_text="Which moment started the clock (survey/clock.py)."
    )
    # Not fields: set on an instance by survey/services/questions.py for its caller, absent otherwise (declared for the
    # type checker only). is_last: the session's last unanswered question (_current_or_refuse); served_now:
    # this request served it (_serve; read with getattr); stamped_at: the time question_clock_start counted from.
    is_last: bool
    served_now: bool
    stamped_at: datetime

    class Meta:
        ordering = ["session", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["session", "is_practice", "position"], name="question_unique_position"),
            models.UniqueConstraint(fields=["session", "sequence"], name="question_unique_sequence"),
        ]

    def __str__(self) -> str:
        prefix = "Practice" if self.is_practice else "Question"
        return f"{prefix} {self.position} ({self.category}) of {self.session.pseudonym}"

    def latest_clock_start(self) -> ClockStart | None:
        """When the clock started, or will start at the latest whatever the page does (survey/clock.py)."""
        if self.clock_started_at is not None:
            return ClockStart(self.clock_started_at, self.clock_rule)
        if self.served_at is None:
            return None
        return clock.latest_start(
            served_at=self.served_at,
            load_allowance_ms=self.load_allowance_ms,
            portraits_delivered_at=self.portraits_delivered_at,
            transfer_allowance_ms=self.transfer_allowance_ms,
        )

    def clock_start(self) -> datetime | None:
        start = self.latest_clock_start()
        return None if start is None else start.at

    def deadline(self) -> datetime | None:
        start = self.clock_start()
        return None if start is None else clock.deadline(start, self.time_limit_ms)

    def is_overdue(self, now: datetime) -> bool:
        """Served, and past its deadline and grace: whatever arrives now is a timeout (survey/clock.py).
        The one rule for abandoned questions: services record it, reads count it without writing."""
        deadline = self.deadline()
        return deadline is not None and clock.is_overdue(deadline_at=deadline, grace_ms=self.grace_ms, now=now)


class ShownImage(models.Model):
    """A portrait as one session sees it: behind an opaque URL token that says nothing of its kind."""

    class Role(models.TextChoices):
        STIMULUS = "stimulus", "Stimulus"
        OPTION = "option", "Option"

    session = models.ForeignKey(QuizSession, on_delete=models.CASCADE, related_name="shown_images")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="images")
    portrait = models.ForeignKey(Portrait, on_delete=models.PROTECT, related_name="+")
    token = models.CharField(max_length=64, unique=True, default=new_url_token, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices)
    slot = models.PositiveSmallIntegerField(help_text="1-based place on the page.")
    # Latent averages are a disorder's reference image, not a person: they may recur across questions.
    repeatable = models.BooleanField(default=False)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="First sent to the participant's browser.")

    class Meta:
        ordering = ["question", "role", "slot"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "portrait"], condition=Q(repeatable=False), name="shown_image_once_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.slot} of {self.question}"


class Option(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="options")
    slot = models.PositiveSmallIntegerField(help_text="1-based place on the page.")
    code = models.CharField(max_length=64, help_text="What the export records as the choice.")
    label = models.CharField(max_length=200)
    image = models.OneToOneField(ShownImage, on_delete=models.CASCADE, null=True, blank=True, related_name="option")

    class Meta:
        ordering = ["question", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["question", "slot"], name="option_unique_slot"),
            models.UniqueConstraint(fields=["question", "code"], name="option_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"


class Answer(models.Model):
    """The one outcome of a question: the database refuses a second."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="answer")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    choice = models.CharField(max_length=64, blank=True, help_text="Empty when skipped or timed out.")
    correct = models.BooleanField(null=True, blank=True)
    response_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Server-measured; empty on timeout.")
    answered_at = models.DateTimeField(help_text="When recorded; for a timeout, the deadline that passed.")
    late_choice = models.CharField(
        max_length=64, blank=True, help_text="What a too-late submission claimed; kept for audit, never scored."
    )

    class Meta:
        ordering = ["question"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(outcome="answered", correct__isnull=False, response_ms__isnull=False) & ~Q(choice="")
                    | Q(outcome="skipped", correct__isnull=True, choice="")
                    | Q(outcome="timeout", correct__isnull=True, choice="", response_ms__isnull=True)
                ),
                name="answer_fields_match_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.question}"
