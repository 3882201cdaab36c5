"""A table as a file: CSV and JSON streamed a few hundred rows at a time, XLSX written row by row, the
settings as JSON, and the files' names and media types."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from survey.export.answers import ANSWER_COLUMNS, answer_rows, answers_frame
from survey.export.options import OPTION_COLUMNS, option_rows, options_frame
from survey.export.participants import PARTICIPANT_COLUMNS, participant_rows, participants_frame
from survey.export.study import study_settings
from survey.models import Study

TABLES = ("answers", "options", "participants", "settings")
# Columns a spreadsheet must keep as text: a 19-digit seed turned into a float cannot rebuild its session.
TEXT_COLUMNS = {"seed"}
TIME_COLUMNS = {"started_at", "answered_at", "finished_at"}
FORMATS = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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
