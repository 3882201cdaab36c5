"""What every table of the export shares: timestamps as the contract writes them, the study's sessions a few
at a time in export order, and the timeouts of abandoned sessions, exported as such without writing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from survey import selectors
from survey.models import Answer, Outcome, Question, Study


def iso_ms(moment: datetime | None) -> str:
    """ISO 8601 in UTC with millisecond precision, as the export contract asks."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def overdue_by_id(study: Study, now: datetime | None) -> dict[int, Question]:
    """Overdue questions of abandoned sessions, by id: exported as the timeouts they are, without writing."""
    return {question.pk: question for question in selectors.overdue_questions(study, now=now)}


def outcome_of(question: Question) -> Answer:
    """The question's recorded answer or, for an overdue one, the timeout `close_expired` would record
    (survey/services/questions.py, `_record_timeout`): so an export reads the same before and after the job has run."""
    answer = getattr(question, "answer", None)
    if answer is None:
        answer = Answer(question=question, outcome=Outcome.TIMEOUT, answered_at=question.deadline())
    return answer


CHUNK_ROWS = 2000  # rows fetched from the database at a time: an export's memory does not grow with the study
SESSIONS_PER_QUERY = 50  # the big tables are read a few sessions at a time, in the export's order


def session_batches(study: Study) -> Iterator[list[int]]:
    """The study's session ids in export order (start time, then id), a few at a time: each batch's rows
    are read and sorted on their own, so the first rows leave without the database sorting the whole
    study first, and the rows come out in exactly the order one query over the study would give."""
    ids = list(study.sessions.order_by("started_at", "pk").values_list("pk", flat=True))
    for first in range(0, len(ids), SESSIONS_PER_QUERY):
        yield ids[first : first + SESSIONS_PER_QUERY]
