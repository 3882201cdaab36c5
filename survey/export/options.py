"""The item-level options table: one row per option shown in a timed question with an outcome
(docs/exports.md#options)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
from django.db.models import Q

from survey.export.common import CHUNK_ROWS, overdue_by_id, session_batches
from survey.models import Option, Study

OPTION_COLUMNS = [
    "study",
    "participant",
    "session",
    "position",
    "question",
    "category",
    "option",
    "slot",
    "portrait",
    "kind",
    "disorder",
    "used_in_training",
    "is_correct",
    "chosen",
]


def option_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per option shown in a timed question that has an outcome (an overdue one counting as a
    timeout): which portrait sat in which slot, whether it was the right one, and whether the participant
    chose it (for per-portrait analyses)."""
    overdue = list(overdue_by_id(study, now))
    for sessions in session_batches(study):
        yield from _option_rows_of(study, sessions, overdue)


_OPTION_FIELDS = (
    "question__session__pseudonym",
    "question__session_id",
    "question__position",
    "question_id",
    "question__category",
    "code",
    "slot",
    "image__portrait__content_hash",
    "image__portrait__kind",
    "image__portrait__disorder__code",
    "image__portrait__used_in_training",
    "question__correct_choice",
    "question__answer__choice",
)


def _option_rows_of(study: Study, sessions: list[int], overdue: list[int]) -> Iterator[dict]:
    options = (
        Option.objects.filter(question__session_id__in=sessions, question__is_practice=False)
        .filter(Q(question__answer__isnull=False) | Q(question_id__in=overdue))
        .order_by("question__session__started_at", "question__session_id", "question__position", "slot")
        .values_list(*_OPTION_FIELDS)  # plain tuples: the largest table is written without a model per row
    )
    for (
        pseudonym,
        session,
        position,
        question,
        category,
        code,
        slot,
        content_hash,
        kind,
        disorder,
        used,
        correct_choice,
        choice,
    ) in options.iterator(chunk_size=CHUNK_ROWS):
        # an overdue question has no answer row: it is the timeout `outcome_of` describes, which chose nothing
        yield {
            "study": study.slug,
            "participant": pseudonym,
            "session": session,
            "position": position,
            "question": question,
            "category": category,
            "option": code,
            "slot": slot,
            "portrait": content_hash or "",
            "kind": kind or "",
            "disorder": disorder if content_hash else code,
            "used_in_training": "" if used is None else int(used),
            "is_correct": int(code == correct_choice),
            "chosen": int(code == (choice or "")),
        }


def options_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    return pd.DataFrame(list(option_rows(study, now=now)), columns=OPTION_COLUMNS)
