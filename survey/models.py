"""The survey's data: studies and their image bank, invites, participants' sessions, questions and answers.

Rules live in services/; models hold data, constraints that make a rule impossible to break in the
database (one answer per question, no portrait twice per session), and nothing else.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from survey import clock
from survey.clock import ClockStart

if TYPE_CHECKING:
    from django.db.transaction import Atomic


def new_url_token() -> str:
    """An unguessable token for URLs: 192 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(24)


def new_pseudonym() -> str:
    """A short pseudonymous id that names a participant in exports; carries no personal data."""
    return "P" + secrets.token_hex(6)


def new_session_seed() -> int:
    """The session's randomisation seed: stored, so the session's questions can be rebuilt."""
    return secrets.randbits(62)


def new_study_secret() -> str:
    """The key under which a study hashes participant identifiers: never shown, never exported."""
    return secrets.token_hex(32)


class Category(models.TextChoices):
    REAL_VS_SYNTHETIC = "real_vs_synthetic", "Real vs synthetic"
    REIDENTIFICATION = "reidentification", "Re-identification"
    DIAGNOSIS = "diagnosis", "Diagnosis"


class PortraitKind(models.TextChoices):
    REAL = "real", "Real portrait"
    SYNTHETIC = "synthetic", "Synthetic portrait"
    LATENT_AVERAGE = "latent_average", "Latent average"


class StimulusKind(models.TextChoices):
    """What a question shows, as named in the tidy export."""

    MIXED = "mixed", "Mixed (real among synthetic)"
    LATENT_AVERAGE = "latent_average", "Latent average"
    REAL = "real", "Real"
    SYNTHETIC = "synthetic", "Synthetic"


class PortraitRole(models.TextChoices):
    """The one part a portrait plays in a study, for the study's lifetime (see survey/roles.py)."""

    REAL_VS_SYNTHETIC_REAL = "real_vs_synthetic_real", "Real-vs-synthetic: the real portrait"
    REAL_VS_SYNTHETIC_SYNTHETIC = "real_vs_synthetic_synthetic", "Real-vs-synthetic: a synthetic portrait"
    REIDENTIFICATION_MEMBER = "reidentification_member", "Re-identification: the training member"
    REIDENTIFICATION_NON_MEMBER = "reidentification_non_member", "Re-identification: a non-member"
    DIAGNOSIS_REAL = "diagnosis_real", "Diagnosis: a real stimulus"
    DIAGNOSIS_SYNTHETIC = "diagnosis_synthetic", "Diagnosis: a synthetic stimulus"
    PRACTICE_REAL_VS_SYNTHETIC = "practice_real_vs_synthetic", "Real-vs-synthetic practice question"
    PRACTICE_REIDENTIFICATION = "practice_reidentification", "Re-identification practice question"
    PRACTICE_DIAGNOSIS = "practice_diagnosis", "Diagnosis practice question"
    REFERENCE = "reference", "Reference image (latent average)"


class Profession(models.TextChoices):
    """What a participant says they do, asked before the quiz (the HTML profile form and the API)."""

    CLINICAL_GENETICIST = "clinical_geneticist", "Clinical geneticist / dysmorphologist"
    GENETIC_COUNSELLOR = "genetic_counsellor", "Genetic counsellor"
    PAEDIATRICIAN = "paediatrician", "Paediatrician"
    RESIDENT = "resident", "Resident / trainee in genetics"
    RESEARCHER = "researcher", "Researcher"
    OTHER = "other", "Other"


class Outcome(models.TextChoices):
    ANSWERED = "answered", "Answered"
    SKIPPED = "skipped", "Skipped"
    TIMEOUT = "timeout", "Timed out"


class Disorder(models.Model):
    code = models.SlugField(max_length=64, unique=True, help_text="Short code used in manifests and exports.")
    name = models.CharField(max_length=200, help_text="Name shown to participants as a diagnosis option.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Study(models.Model):
    slug = models.SlugField(max_length=64, unique=True, help_text="Names the study in URLs and exports.")
    title = models.CharField(max_length=200)
    consent_text = models.TextField(help_text="Shown before anything else; the participant must agree to it.")
    instructions = models.TextField(blank=True, help_text="Shown with the practice questions, before the timed quiz.")
    disorders = models.ManyToManyField(Disorder, related_name="studies")
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="coordinated_studies",
        help_text="Staff who may manage this study and export its results (superusers may always).",
    )
    is_open = models.BooleanField(default=True, help_text="Closed studies accept no new sessions.")
    show_feedback = models.BooleanField(
        default=False, help_text="Show per-category scores on the end page (never during the quiz)."
    )
    with_practice = models.BooleanField(
        default=True,
        help_text="Each category opens with one timed practice question whose answer the expert is "
        "told afterwards; practice answers are never exported.",
    )

    n_real_vs_synthetic = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(200)])
    n_reidentification = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(200)])
    n_diagnosis = models.PositiveSmallIntegerField(default=10, validators=[MaxValueValidator(200)])

    time_limit_real_vs_synthetic_ms = models.PositiveIntegerField(default=30_000, validators=[MinValueValidator(1000)])
    time_limit_reidentification_ms = models.PositiveIntegerField(default=30_000, validators=[MinValueValidator(1000)])
    time_limit_diagnosis_ms = models.PositiveIntegerField(default=15_000, validators=[MinValueValidator(1000)])
    grace_ms = models.PositiveIntegerField(
        default=2_000, help_text="Answers arriving this long after the deadline still count (network latency)."
    )
    load_allowance_ms = models.PositiveIntegerField(
        default=10_000,
        help_text="The clock waits this long at most for a question's portraits to load before it starts.",
    )
    transfer_allowance_ms = models.PositiveIntegerField(
        default=1_000,
        validators=[MaxValueValidator(5_000)],
        help_text="Once the server has sent a question's last portrait, the clock starts at the latest this much later.",
    )
    arming_delay_ms = models.PositiveIntegerField(
        default=400,
        validators=[MaxValueValidator(2_000)],
        help_text="A question accepts answers only this long after its portraits are shown: a click meant for the "
        "question before is refused.",
    )
    expected_sessions = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="How many experts you expect: the bank's portraits are divided into roles for about this many.",
    )
    require_participant_id = models.BooleanField(
        default=True,
        help_text="Reusable links ask each expert for an identifier (e.g. e-mail) and refuse a second attempt "
        "with the same one. It is stored only as a keyed hash.",
    )
    seed = models.BigIntegerField(
        default=new_session_seed, editable=False, help_text="Draws the portraits' roles when the bank is frozen."
    )
    secret = models.CharField(max_length=64, default=new_study_secret, editable=False)
    bank_frozen_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the bank's roles were drawn (at the first session); portraits added later are not shown.",
    )
    image_pad_bytes = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Every portrait of this study is delivered padded to this many bytes: its largest portrait "
        "when the bank was frozen (survey/delivery.py).",
    )

    n_synthetic_in_real_vs_synthetic = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="Synthetic portraits shown beside the one real portrait.",
    )
    n_candidates_in_reidentification = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(2), MaxValueValidator(8)],
        help_text="Real portraits shown beside the latent average; exactly one was used in training.",
    )
    n_options_in_diagnosis = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(2), MaxValueValidator(20)],
        help_text="Disorders offered as answers to a diagnosis question.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.title

    def time_limit_ms(self, category: str) -> int:
        return {
            Category.REAL_VS_SYNTHETIC: self.time_limit_real_vs_synthetic_ms,
            Category.REIDENTIFICATION: self.time_limit_reidentification_ms,
            Category.DIAGNOSIS: self.time_limit_diagnosis_ms,
        }[Category(category)]


class Portrait(models.Model):
    """One normalised image in a study's bank, stored under the hash of its normalised bytes."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="portraits")
    kind = models.CharField(max_length=20, choices=PortraitKind.choices)
    disorder = models.ForeignKey(Disorder, on_delete=models.PROTECT, related_name="portraits")
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalised image; its storage name.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    used_in_training = models.BooleanField(
        null=True, blank=True, help_text="Real portraits only: whether the generator was trained on it."
    )
    source = models.CharField(max_length=200, blank=True, help_text="Where a real portrait came from.")
    checkpoint_id = models.CharField(max_length=80, blank=True, help_text="Generator checkpoint (generated kinds).")
    seed = models.BigIntegerField(null=True, blank=True, help_text="Generator seed (synthetic portraits).")
    truncation = models.FloatField(null=True, blank=True, help_text="Truncation psi (synthetic portraits).")
    original_name = models.CharField(max_length=255, blank=True, help_text="File name at import; never exported.")
    role = models.CharField(
        max_length=40,
        choices=PortraitRole.choices,
        blank=True,
        editable=False,
        help_text="The one part this portrait plays in the study, drawn when the bank was frozen; empty: never shown.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "kind", "disorder", "content_hash"]
        constraints = [
            models.UniqueConstraint(fields=["study", "content_hash"], name="portrait_unique_content_per_study"),
            models.CheckConstraint(
                condition=Q(kind="real", used_in_training__isnull=False) | ~Q(kind="real"),
                name="portrait_real_knows_training_use",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.disorder.code} ({self.content_hash[:10]})"


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


class Job(models.Model):
    """A coordinator's background job: filling the pool from a checkpoint, or building a spreadsheet export.

    `manage.py db_worker` runs it (survey/tasks.py) and writes its state, progress and outcome here; the
    job's page reads this row only. The finished file of an export is kept in the row itself: the database
    is the one thing the web servers and a worker on a GPU machine are sure to share.
    """

    class Kind(models.TextChoices):
        POOL_FILL = "pool_fill", "Fill the pool"
        EXPORT = "export", "Spreadsheet export"
        DASHBOARD = "dashboard", "Dashboard figures"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    parameters = models.JSONField(default=dict, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    step_note = models.CharField(max_length=200, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    file_data = models.BinaryField(null=True, blank=True, editable=False)
    task_id = models.CharField(max_length=64, blank=True, help_text="The task queue's id for this job.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker last reported on this job (its start or its progress)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["study", "kind", "-created_at"])]
        constraints = [
            # however many coordinators reload a stale dashboard, one recompute per study waits or runs
            models.UniqueConstraint(
                fields=["study"],
                condition=Q(kind="dashboard", state__in=["queued", "running"]),
                name="one_pending_dashboard_per_study",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_state_display()})"

    @property
    def is_finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def has_file(self) -> bool:
        """Whether the job built a file to download: a finished export (its page, the API and the
        download views all ask this)."""
        return self.kind == self.Kind.EXPORT and self.state == self.State.DONE

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return round(100 * self.steps_done / self.steps_total) if self.steps_total else 0
