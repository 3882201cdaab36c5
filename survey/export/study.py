"""The settings file (settings.json): every parameter of the study and what its bank held, so an export
describes itself."""

from __future__ import annotations

import tomllib
from pathlib import Path

from survey.models import Portrait, QuizSession, Study

STUDY_SETTING_FIELDS = [
    "slug",
    "title",
    "is_open",
    "show_feedback",
    "n_real_vs_synthetic",
    "n_reidentification",
    "n_diagnosis",
    "time_limit_real_vs_synthetic_ms",
    "time_limit_reidentification_ms",
    "time_limit_diagnosis_ms",
    "grace_ms",
    "load_allowance_ms",
    "transfer_allowance_ms",
    "arming_delay_ms",
    "n_synthetic_in_real_vs_synthetic",
    "n_candidates_in_reidentification",
    "n_options_in_diagnosis",
    "with_practice",
    "expected_sessions",
    "require_participant_id",
    "seed",
    "bank_frozen_at",
]


def platform_version() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def study_settings(study: Study) -> dict:
    """Every parameter of the study and what its bank held, so an export describes itself."""
    portraits = (
        Portrait.objects.filter(study=study)
        .select_related("disorder")
        .order_by("kind", "disorder__code", "content_hash")
    )
    return {
        "platform_version": platform_version(),
        "export_contract": "docs/exports.md tidy export v1",
        "study": {name: getattr(study, name) for name in STUDY_SETTING_FIELDS},
        "disorders": [{"code": d.code, "name": d.name} for d in study.disorders.order_by("code")],
        "generator_checkpoints": sorted({p.checkpoint_id for p in portraits if p.checkpoint_id}),
        "image_bank": [
            {
                "content_hash": p.content_hash,
                "kind": p.kind,
                "disorder": p.disorder.code,
                "used_in_training": p.used_in_training,
                "checkpoint_id": p.checkpoint_id,
                "seed": p.seed,
                "truncation": p.truncation,
                "role": p.role,
            }
            for p in portraits
        ],
        "role_quotas": role_quotas(portraits),
        "sessions": study.sessions.count(),
        "sessions_finished": study.sessions.filter(stage=QuizSession.Stage.FINISHED).count(),
    }


def role_quotas(portraits) -> dict[str, dict[str, int]]:
    """How many portraits of each disorder hold each role (survey/roles.py); empty before the bank is frozen."""
    quotas: dict[str, dict[str, int]] = {}
    for portrait in portraits:
        if portrait.role:
            by_disorder = quotas.setdefault(portrait.role, {})
            by_disorder[portrait.disorder.code] = by_disorder.get(portrait.disorder.code, 0) + 1
    return quotas
