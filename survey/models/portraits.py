"""The image bank: a study's portraits, each stored under the hash of its normalised bytes, with the role
it plays once the bank is frozen."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from survey.models.choices import PortraitKind, PortraitRole
from survey.models.study import Disorder, Study


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
