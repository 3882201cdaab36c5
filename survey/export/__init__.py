"""A study's results as tables: the tidy answers export, the item-level options table, participants, and
the settings that describe how the study ran. docs/exports.md documents every column.

Exports carry pseudonymous ids and content hashes only: never names, emails, invite tokens or labels,
file names or paths.

One module per table (answers.py, options.py, participants.py, study.py: the settings), what they share
(common.py), and the files they are written as (formats.py: CSV, JSON, XLSX); everything the rest of the
project uses is importable from here (`from survey.export import render`).
"""

from survey.export.answers import ANSWER_COLUMNS, answer_rows, answers_frame
from survey.export.common import iso_ms
from survey.export.formats import (
    FORMATS,
    FRAMES,
    ROWS,
    TABLES,
    answers_csv,
    csv_chunks,
    file_name,
    json_chunks,
    render,
    xlsx_bytes,
)
from survey.export.options import OPTION_COLUMNS, option_rows, options_frame
from survey.export.participants import PARTICIPANT_COLUMNS, participant_rows, participants_frame
from survey.export.study import STUDY_SETTING_FIELDS, platform_version, role_quotas, study_settings

__all__ = [
    "ANSWER_COLUMNS",
    "FORMATS",
    "FRAMES",
    "OPTION_COLUMNS",
    "PARTICIPANT_COLUMNS",
    "ROWS",
    "STUDY_SETTING_FIELDS",
    "TABLES",
    "answer_rows",
    "answers_csv",
    "answers_frame",
    "csv_chunks",
    "file_name",
    "iso_ms",
    "json_chunks",
    "option_rows",
    "options_frame",
    "participant_rows",
    "participants_frame",
    "platform_version",
    "render",
    "role_quotas",
    "study_settings",
    "xlsx_bytes",
]
