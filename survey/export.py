"""A study's results as tables: the tidy answers export, the item-level options table, participants, and
the settings that describe how the study ran. docs/exports.md documents every column.

Exports carry pseudonymous ids and content hashes only: never names, emails, invite tokens or labels,
file names or paths.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from django.db.models import Count, Q

from survey import selectors
from survey.models import Answer, Option, Outcome, Portrait, Question, QuizSession, Study

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
TABLES = ("answers", "options", "participants", "settings")
# Columns a spreadsheet must keep as text: a 19-digit seed turned into a float cannot rebuild its session.
TEXT_COLUMNS = {"seed"}
TIME_COLUMNS = {"started_at", "answered_at", "finished_at"}
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
FORMATS = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def iso_ms(moment: datetime | None) -> str:
    """ISO 8601 in UTC with millisecond precision, as the export contract asks."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def platform_version() -> str:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def _overdue(study: Study, now: datetime | None) -> dict[int, Question]:
    """Overdue questions of abandoned sessions, by id: exported as the timeouts they are, without writing."""
    return {question.pk: question for question in selectors.overdue_questions(study, now=now)}


def _outcome(question: Question) -> Answer:
    """The question's recorded answer or, for an overdue one, the timeout `close_expired` would record
    (survey/services/questions.py, `_record_timeout`): so an export reads the same before and after the job has run."""
    answer = getattr(question, "answer", None)
    if answer is None:
        answer = Answer(question=question, outcome=Outcome.TIMEOUT, answered_at=question.deadline())
    return answer


CHUNK_ROWS = 2000  # rows fetched from the database at a time: an export's memory does not grow with the study
SESSIONS_PER_QUERY = 50  # the big tables are read a few sessions at a time, in the export's order


def _session_batches(study: Study) -> Iterator[list[int]]:
    """The study's session ids in export order (start time, then id), a few at a time: each batch's rows
    are read and sorted on their own, so the first rows leave without the database sorting the whole
    study first, and the rows come out in exactly the order one query over the study would give."""
    ids = list(study.sessions.order_by("started_at", "pk").values_list("pk", flat=True))
    for first in range(0, len(ids), SESSIONS_PER_QUERY):
        yield ids[first : first + SESSIONS_PER_QUERY]


def answer_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per question a participant was shown and that has an outcome, in the contract's columns;
    an overdue question of an abandoned session is a timeout (selectors.overdue_questions)."""
    overdue = list(_overdue(study, now))
    for sessions in _session_batches(study):
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
        answer = _outcome(question)
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


def option_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per option shown in a timed question that has an outcome (an overdue one counting as a
    timeout): which portrait sat in which slot, whether it was the right one, and whether the participant
    chose it (for per-portrait analyses)."""
    overdue = list(_overdue(study, now))
    for sessions in _session_batches(study):
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
        # an overdue question has no answer row: it is the timeout `_outcome` describes, which chose nothing
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


def participant_rows(study: Study, *, now: datetime | None = None) -> Iterator[dict]:
    """One row per session, in export order. The outcome counts are taken a few sessions at a time (one
    grouped query over the whole study would count every answer before the first row could leave)."""
    overdue = Counter(q.session_id for q in _overdue(study, now).values() if not q.is_practice)
    timed = Q(questions__is_practice=False)
    for batch in _session_batches(study):
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


def answers_csv(study: Study) -> bytes:
    return b"".join(csv_chunks(study, "answers"))


FRAMES = {"answers": answers_frame, "options": options_frame, "participants": participants_frame}
ROWS = {
    "answers": (ANSWER_COLUMNS, answer_rows),
    "options": (OPTION_COLUMNS, option_rows),
    "participants": (PARTICIPANT_COLUMNS, participant_rows),
}
STREAM_ROWS = 500  # rows per chunk sent: few writes, and the first bytes leave before the whole table is read


def csv_chunks(study: Study, table: str) -> Iterator[bytes]:
    """The table as CSV (RFC 4180 quoting, "\n" line ends, UTF-8), a few hundred rows at a time, for a
    streamed download: the request never holds the whole study. Values print as pandas' CSV writer prints
    them (a test compares the two)."""
    columns, rows = ROWS[table]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for count, row in enumerate(rows(study), start=1):
        writer.writerow([row[column] for column in columns])
        if count % STREAM_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def json_chunks(study: Study, table: str) -> Iterator[bytes]:
    """The table as a JSON array of records, streamed like `csv_chunks`."""
    columns, rows = ROWS[table]
    yield b"["
    for count, row in enumerate(rows(study)):
        yield (("," if count else "") + "\n" + json.dumps({c: row[c] for c in columns})).encode("utf-8")
    yield b"\n]\n"


def _spreadsheet_value(column: str, value):
    if column in TEXT_COLUMNS:
        return str(value)
    if column in TIME_COLUMNS:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None) if value else None
    return None if value == "" else value


def xlsx_bytes(study: Study, table: str) -> bytes:
    """The table as one XLSX sheet, written row by row (openpyxl's write-only mode keeps memory flat):
    seeds as text, timestamps as dates in UTC (the format has no time zones), blanks as empty cells."""
    from openpyxl import Workbook

    columns, rows = ROWS[table]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table)
    sheet.append(columns)
    for row in rows(study):
        sheet.append([_spreadsheet_value(column, row[column]) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(study: Study, table: str, fmt: str) -> bytes:
    """One export file: table in TABLES, fmt in {csv, json, xlsx} (settings: json only)."""
    if table == "settings":
        return json.dumps(study_settings(study), indent=2, default=str).encode("utf-8")
    if fmt == "csv":
        return b"".join(csv_chunks(study, table))
    if fmt == "json":
        return b"".join(json_chunks(study, table))
    return xlsx_bytes(study, table)


def file_name(study: Study, table: str, fmt: str) -> str:
    return f"{study.slug}-{table}.{'json' if table == 'settings' else fmt}"
