"""A study's bank as its coordinator sees it: what stops it from starting a session, and what it holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from django.utils import timezone

from survey.models import Portrait, Study
from survey.plan_inputs import bank_snapshot, plan_settings_for, study_roles_draw
from survey.planning import PlanError, plan_session, validate_settings
from survey.roles import RoleError


def study_readiness(study: Study) -> list[str]:
    """What stops the study from starting a session, in sentences for its coordinator; empty when ready.

    A dry run of what the first session does: draw the roles (unless the bank is frozen) and one plan.
    """
    settings = plan_settings_for(study)
    try:
        validate_settings(settings)
        bank = bank_snapshot(study, as_of=timezone.now())
        if study.bank_frozen_at is None:
            assignment = study_roles_draw(study, bank)
            bank = [replace(p, role=assignment.roles.get(p.id, "")) for p in bank]
        plan_session(bank, settings, study.seed)
    except (PlanError, RoleError) as error:
        return [f"{str(error)[0].upper()}{str(error)[1:]}."]
    return []


@dataclass(frozen=True)
class BankGroup:
    disorder: str
    kind: str  # "real (training)", "real (held out)", "synthetic", "latent average"
    count: int
    roles: dict[str, int]
    sample_ids: tuple[int, ...]  # a few portraits to show as thumbnails


def bank_overview(study: Study, *, samples: int = 4) -> list[BankGroup]:
    """The bank at a glance: per disorder and kind, how many portraits, in which roles, and a few of them."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    rows = (
        Portrait.objects.filter(study=study)
        .order_by("disorder__code", "kind", "content_hash")
        .values_list("id", "disorder__code", "kind", "used_in_training", "role")
    )
    for pk, disorder, kind, used, role in rows:
        label = {
            "real": "real (training)" if used else "real (held out)",
            "synthetic": "synthetic",
            "latent_average": "latent average",
        }[kind]
        groups.setdefault((disorder, label), []).append((pk, role))
    return [
        BankGroup(
            disorder,
            kind,
            len(items),
            dict(Counter(role or "unused (never shown)" for _, role in items)),
            tuple(pk for pk, _ in items[:samples]),
        )
        for (disorder, kind), items in groups.items()
    ]
