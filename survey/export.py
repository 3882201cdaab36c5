"""A study's results as tables: the tidy answers export, the item-level options table, participants, and
the settings that describe how the study ran. docs/exports.md documents every column.

Exports carry pseudonymous ids and content hashes only: never names, emails, invite tokens or labels,
file names or paths.
"""

from __future__ import annotations

import io
import json
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from django.db.models import Count, Q

from survey import selectors
from survey.models import Answer, Option, Outcome, Portrait, Question, QuizSession, Study

ANSWER_COLUMNS = [
    "study", "participant", "session", "category", "position", "question", "disorder", "stimulus_kind",
    "n_options", "chance", "correct_choice", "choice", "outcome", "correct", "time_limit_ms", "response_ms",
    "started_at", "answered_at", "seed", "clock_rule",
]
PARTICIPANT_COLUMNS = [
    "participant", "session", "profession", "years_experience", "stage", "started_at", "finished_at",
    "n_answered", "n_skipped", "n_timeout", "erased", "ended_by_coordinator",
]
OPTION_COLUMNS = [
    "study", "participant", "session", "position", "question", "category", "option", "slot", "portrait", "kind",
    "disorder", "used_in_training", "is_correct", "chosen",
]
TABLES = ("answers", "options", "participants", "settings")
# Columns a spreadsheet must keep as text: a 19-digit seed turned into a float cannot rebuild its session.
TEXT_COLUMNS = {"seed"}
TIME_COLUMNS = {"started_at", "answered_at", "finished_at"}
STUDY_SETTING_FIELDS = [
    "slug", "title", "is_open", "show_feedback", "n_real_vs_synthetic", "n_reidentification", "n_diagnosis",
    "time_limit_real_vs_synthetic_ms", "time_limit_reidentification_ms", "time_limit_diagnosis_ms", "grace_ms",
    "load_allowance_ms", "transfer_allowance_ms", "arming_delay_ms", "n_synthetic_in_real_vs_synthetic",
    "n_candidates_in_reidentification", "n_options_in_diagnosis", "with_practice", "expected_sessions",
    "require_participant_id", "seed", "bank_frozen_at",
]
FORMATS = {"csv": "text/csv", "json": "application/json",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


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
    (services._record_timeout): so an export reads the same before and after the job has run."""
    answer = getattr(question, "answer", None)
    if answer is None:
        answer = Answer(question=question, outcome=Outcome.TIMEOUT, answered_at=question.deadline())
    return answer


def answers_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    """One row per question a participant was shown and that has an outcome, in the contract's columns;
    an overdue question of an abandoned session is a timeout (selectors.overdue_questions)."""
    questions = (
        Question.objects.filter(session__study=study, is_practice=False)
        .filter(Q(answer__isnull=False) | Q(pk__in=list(_overdue(study, now))))
        .select_related("session", "disorder", "answer")
        .annotate(n_shown_options=Count("options"))
        .order_by("session__started_at", "session_id", "position")
    )
    rows = []
    for question in questions:
        answer = _outcome(question)
        session = question.session
        rows.append({
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
        })
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def options_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    """One row per option shown in a timed question that has an outcome (an overdue one counting as a
    timeout): which portrait sat in which slot, whether it was the right one, and whether the participant
    chose it (for per-portrait analyses)."""
    options = (
        Option.objects.filter(question__session__study=study, question__is_practice=False)
        .filter(Q(question__answer__isnull=False) | Q(question_id__in=list(_overdue(study, now))))
        .select_related("question__session", "question__answer", "question__disorder", "image__portrait__disorder")
        .order_by("question__session__started_at", "question__session_id", "question__position", "slot")
    )
    rows = []
    for option in options:
        question = option.question
        answer = _outcome(question)
        portrait = option.image.portrait if option.image_id else None
        rows.append({
            "study": study.slug,
            "participant": question.session.pseudonym,
            "session": question.session_id,
            "position": question.position,
            "question": question.pk,
            "category": question.category,
            "option": option.code,
            "slot": option.slot,
            "portrait": portrait.content_hash if portrait else "",
            "kind": portrait.kind if portrait else "",
            "disorder": portrait.disorder.code if portrait else option.code,
            "used_in_training": "" if portrait is None or portrait.used_in_training is None
            else int(portrait.used_in_training),
            "is_correct": int(option.code == question.correct_choice),
            "chosen": int(option.code == answer.choice),
        })
    return pd.DataFrame(rows, columns=OPTION_COLUMNS)


def participants_frame(study: Study, *, now: datetime | None = None) -> pd.DataFrame:
    overdue = Counter(q.session_id for q in _overdue(study, now).values() if not q.is_practice)
    timed = Q(questions__is_practice=False)
    sessions = study.sessions.annotate(
        n_answered=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.ANSWERED)),
        n_skipped=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.SKIPPED)),
        n_timeout=Count("questions", filter=timed & Q(questions__answer__outcome=Outcome.TIMEOUT)),
    ).order_by("started_at", "pk")
    rows = [{
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
    } for s in sessions]
    return pd.DataFrame(rows, columns=PARTICIPANT_COLUMNS)


def study_settings(study: Study) -> dict:
    """Every parameter of the study and what its bank held, so an export describes itself."""
    portraits = Portrait.objects.filter(study=study).select_related("disorder").order_by("kind", "disorder__code", "content_hash")
    return {
        "platform_version": platform_version(),
        "export_contract": "docs/exports.md tidy export v1",
        "study": {name: getattr(study, name) for name in STUDY_SETTING_FIELDS},
        "disorders": [{"code": d.code, "name": d.name} for d in study.disorders.order_by("code")],
        "generator_checkpoints": sorted({p.checkpoint_id for p in portraits if p.checkpoint_id}),
        "image_bank": [{
            "content_hash": p.content_hash, "kind": p.kind, "disorder": p.disorder.code,
            "used_in_training": p.used_in_training, "checkpoint_id": p.checkpoint_id, "seed": p.seed,
            "truncation": p.truncation, "role": p.role,
        } for p in portraits],
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
    return answers_frame(study).to_csv(index=False, lineterminator="\n").encode("utf-8")


FRAMES = {"answers": answers_frame, "options": options_frame, "participants": participants_frame}


def spreadsheet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Seeds as text (a spreadsheet would round them to 15 digits), timestamps as dates (UTC, naive: the
    format has no time zones)."""
    frame = frame.copy()
    for column in TEXT_COLUMNS & set(frame.columns):
        frame[column] = frame[column].astype(str)
    for column in TIME_COLUMNS & set(frame.columns):
        frame[column] = pd.to_datetime(frame[column].replace("", None), utc=True).dt.tz_localize(None)
    return frame


def render(study: Study, table: str, fmt: str) -> bytes:
    """One export file: table in TABLES, fmt in {csv, json, xlsx} (settings: json only)."""
    if table == "settings":
        return json.dumps(study_settings(study), indent=2, default=str).encode("utf-8")
    frame = FRAMES[table](study)
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    if fmt == "json":
        return frame.to_json(orient="records", indent=2).encode("utf-8")
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        spreadsheet_ready(frame).to_excel(writer, sheet_name=table, index=False)
    return buffer.getvalue()


def file_name(study: Study, table: str, fmt: str) -> str:
    return f"{study.slug}-{table}.{'json' if table == 'settings' else fmt}"
