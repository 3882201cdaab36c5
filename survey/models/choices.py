"""Choice lists: a question's category and stimulus, a portrait's kind and role, an answer's outcome, and
the professions a participant may give (the profile form and the API)."""

from __future__ import annotations

from django.db import models


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
