"""A study and the disorders it asks about: its questions' numbers and clocks, who coordinates it, its seed
and secret, and when its bank was frozen."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from survey.models.choices import Category
from survey.models.defaults import new_session_seed, new_study_secret


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
