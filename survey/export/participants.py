"""The participants table: one row per session, with its outcome counts (docs/exports.md#participants)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
from django.db.models import Count, Q

from survey.export.common import iso_ms, overdue_by_id, session_batches
from survey.models import Outcome, QuizSession, Study

PARTICIPANT_COLUMNS = [
    "participant",
    "session",
    "profession",
    "years_experience",
    "stage",
    "started_at",
    "finished_at",
    "n_answered",
    "n_skipped",
    "n_timeout",
    "erased",
    "ended_by_coordinator",
]


def participant_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per session, in export order. The outcome counts are taken a few sessions at a time (one
    grouped query over the whole study would count every answer before the first row could leave)."""
    overdue = Counter(q.session_id for q in overdue_by_id(study, now).values() if not q.is_practice)
    timed = Q(questions__is_practice=False)
    for batch in session_batches(study):
        sessions = (
            study.sessions.filter(pk__in=batch)
            .annotate(
                n_answered=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.ANSWERED)),
                n_skipped=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.SKIPPED)),
                n_timeout=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.TIMEOUT)),
            )
            .order_by("started_at", "pk")
        )
        yield from (_participant_row(s, overdue) for s in sessions)


def _participant_row(s: QuizSession, overdue: Counter) -> dict:
    return {
        "participant": s.pseudonym,
        "session": s.pk,
        "profession": s.profession,
        "years_experience": "" if s.years_experience is None else s.years_experience,
        "stage": s.stage,
        "started_at": iso_ms(s.started_at),
        "finished_at": iso_ms(s.finished_at),
        "n_answered": s.n_answered,
        "n_skipped": s.n_skipped,
        "n_timeout": s.n_timeout + overdue[s.pk],
        "erased": int(s.erased_at is not None),
        "ended_by_coordinator": int(s.ended_at is not None),
    }


def participants_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    return pd.DataFrame(list(participant_rows(study, now=now)), columns=PARTICIPANT_COLUMNS)
