"""The tidy answers export: one row per timed question with an outcome (docs/exports.md#answers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
from django.db.models import Count, Q

from survey.export.common import CHUNK_ROWS, iso_ms, outcome_of, overdue_by_id, session_batches
from survey.models import Question, Study

ANSWER_COLUMNS = [
    "study",
    "participant",
    "session",
    "category",
    "position",
    "question",
    "disorder",
    "stimulus_kind",
    "n_options",
    "chance",
    "correct_choice",
    "choice",
    "outcome",
    "correct",
    "time_limit_ms",
    "response_ms",
    "started_at",
    "answered_at",
    "seed",
    "clock_rule",
]


def answer_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per question a participant was shown and that has an outcome, in the contract's columns;
    an overdue question of an abandoned session is a timeout (selectors.overdue_questions)."""
    overdue = list(overdue_by_id(study, now))
    for sessions in session_batches(study):
        yield from _answer_rows_of(study, sessions, overdue)


def _answer_rows_of(study: Study, sessions: list[int], overdue: list[int]) -> Iterator[dict]:
    questions = (
        Question.objects.filter(session_id__in=sessions, is_practice=False)
        .filter(Q(answer__isnull=False) | Q(pk__in=overdue))
        .select_related("session", "disorder", "answer")
        .annotate(n_shown_options=Count("options"))
        .order_by("session__started_at", "session_id", "position")
    )
    for question in questions.iterator(chunk_size=CHUNK_ROWS):
        answer = outcome_of(question)
        session = question.session
        yield {
            "study": study.slug,
            "participant": session.pseudonym,
            "session": session.pk,
            "category": question.category,
            "position": question.position,
            "question": question.pk,
            "disorder": question.disorder.code,
            "stimulus_kind": question.stimulus_kind,
            "n_options": question.n_shown_options,
            "chance": 1 / question.n_shown_options,
            "correct_choice": question.correct_choice,
            "choice": answer.choice,
            "outcome": answer.outcome,
            "correct": "" if answer.correct is None else int(answer.correct),
            "time_limit_ms": question.time_limit_ms,
            "response_ms": "" if answer.response_ms is None else answer.response_ms,
            "started_at": iso_ms(question.clock_start()),
            "answered_at": iso_ms(answer.answered_at),
            "seed": session.seed,
            "clock_rule": question.latest_clock_start().rule,
        }


def answers_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    return pd.DataFrame(list(answer_rows(study, now=now)), columns=ANSWER_COLUMNS)
