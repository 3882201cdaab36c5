"""What a study's settings and bank give the pure planners (survey/roles.py, survey/planning.py). Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from survey import roles
from survey.models import Study
from survey.planning import BankPortrait, PlanSettings


def plan_settings_for(study: Study) -> PlanSettings:
    return PlanSettings(
        disorders=tuple(sorted(study.disorders.values_list("code", flat=True))),
        counts={
            "real_vs_synthetic": study.n_real_vs_synthetic,
            "reidentification": study.n_reidentification,
            "diagnosis": study.n_diagnosis,
        },
        n_synthetic_in_real_vs_synthetic=study.n_synthetic_in_real_vs_synthetic,
        n_candidates_in_reidentification=study.n_candidates_in_reidentification,
        n_options_in_diagnosis=study.n_options_in_diagnosis,
        with_practice=study.with_practice,
    )


def role_settings_for(study: Study) -> roles.RoleSettings:
    plan = plan_settings_for(study)
    return roles.RoleSettings(
        disorders=plan.disorders,
        counts=plan.counts,
        n_synthetic_in_real_vs_synthetic=plan.n_synthetic_in_real_vs_synthetic,
        n_candidates_in_reidentification=plan.n_candidates_in_reidentification,
        with_practice=plan.with_practice,
        expected_sessions=study.expected_sessions,
    )


def bank_snapshot(study: Study, *, as_of: datetime) -> list[BankPortrait]:
    """The study's bank as a session drawn at `as_of` saw it: later imports do not change a rebuild."""
    rows = study.portraits.filter(created_at__lte=as_of).values_list(
        "id", "content_hash", "kind", "disorder__code", "used_in_training", "role"
    )
    return [BankPortrait(*row) for row in rows]


def study_roles_draw(study: Study, bank: Sequence[BankPortrait]) -> roles.RoleAssignment:
    """The roles the study's seed gives the bank's portraits (raises roles.RoleError naming what is missing)."""
    candidates = [roles.Candidate(p.id, p.content_hash, p.pool, p.disorder) for p in bank]
    return roles.assign_roles(candidates, role_settings_for(study), seed=study.seed)
