"""Reading one table of an export, whichever table it is (the answers, the options).

:func:`_load_table` does what every table shares: the file formats (CSV with a sniffed
delimiter in UTF-8 or Latin-1, XLSX, JSON, or a DataFrame), the required columns, the
empty table, text columns as text, empty ids, and naming the first bad row. Each table
then brings only its own rules: :mod:`analysis.export` for the answers,
:mod:`analysis.options` for the options.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from .errors import ExportError

#: A broken rule's message: fixed text, or text built from the 0-based index of the first bad row.
_Message = str | Callable[[int], str]
#: ``fail(mask, column, message)``: raise ExportError naming the first row where ``mask`` holds.
_Fail = Callable[[np.ndarray, str, _Message], None]


@dataclass(frozen=True)
class _Table:
    """What reading one export table takes besides its own rules (see :func:`_load_table`)."""

    #: How the messages name the table ("the export", "the options export").
    name: str
    #: How the missing-column message names the column list.
    expected: str
    columns: tuple[str, ...]
    #: Columns compared as text, converted when the source is not a text-only CSV read.
    text_columns: tuple[str, ...]
    #: Columns that identify a row and so must never be empty.
    id_columns: tuple[str, ...]


def _load_table(
    source: str | os.PathLike[str] | pd.DataFrame, table: _Table, rules: Callable[[pd.DataFrame, _Fail], pd.DataFrame]
) -> pd.DataFrame:
    """Read ``source`` as ``table``, check what every table shares, then apply the table's own ``rules``.

    ``rules`` gets the frame (ids checked, text columns as text) and the ``fail`` that
    names the first bad row; it returns the frame with its numeric columns typed.
    """
    label = None
    note = ""
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
        text_ready = False
    else:
        label = os.fspath(source)
        raw, text_ready, note = _read_file(label)
    fail = _first_bad_row(label)
    df = rules(_shared_checks(raw, table, label, text_ready, fail), fail)
    if note:
        df.attrs["read_note"] = note
    return df


def _read_file(label: str) -> tuple[pd.DataFrame, bool, str]:
    """Read a CSV (sniffed delimiter, UTF-8 or Latin-1), XLSX or JSON export.

    Returns the raw frame, whether its cells are already text, and a note for the
    reader (empty unless the file was not UTF-8).
    """
    if os.path.isdir(label):
        raise ExportError("is a directory; give the export file inside it", source=label)
    try:
        with open(label, "rb") as fh:
            head = fh.read(65536)
    except FileNotFoundError:
        raise ExportError("file not found", source=label) from None
    except OSError as exc:
        raise ExportError(f"cannot be read ({exc.strerror or exc})", source=label) from None
    try:
        if head.startswith(b"PK\x03\x04") or label.lower().endswith(".xlsx"):
            return _read_xlsx(label), False, ""
        if head.lstrip()[:1] in (b"[", b"{") or label.lower().endswith(".json"):
            return _read_json(label), False, ""
        encoding, note = _encoding(label, head)
        return _read_csv(label, encoding, _sniff_delimiter(head, encoding)), True, note
    except pd.errors.EmptyDataError:
        raise ExportError("the file is empty (no header row)", source=label) from None
    except pd.errors.ParserError as exc:
        raise ExportError(f"not a readable CSV file ({str(exc).strip()})", source=label) from None


def _encoding(path: str, head: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) when the whole file decodes, else Latin-1, said aloud."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        data.decode("utf-8")
        return ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"), ""
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return "latin-1", (
            f"{path}: not UTF-8 (line {line}, byte {exc.start}: "
            f"{data[exc.start : exc.start + 1]!r}); read as Latin-1 (ISO-8859-1). "
            "Check names with accents; re-export as UTF-8 to silence this."
        )


def _sniff_delimiter(head: bytes, encoding: str) -> str:
    sample = head.decode(encoding, errors="ignore")
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_xlsx(path: str) -> pd.DataFrame:
    try:
        # The answers table is the first sheet of the platform's workbook.
        return pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
    except (ValueError, KeyError, OSError) as exc:
        raise ExportError(f"not a readable XLSX workbook ({exc})", source=path) from None


def _read_json(path: str) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8") as fh:
            records = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"not a readable JSON export ({exc})", source=path) from None
    if isinstance(records, dict):  # {"answers": [...]} or {"rows": [...]}
        records = next((v for v in records.values() if isinstance(v, list)), None)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ExportError("a JSON export must be a list of row objects (orient='records')", source=path)
    if not records:
        raise ExportError("the export has no rows", source=path)
    return pd.DataFrame.from_records(records)


_NUMERIC_COLUMNS: Final = ("position", "n_options", "chance", "correct", "time_limit_ms", "response_ms")


def _read_csv(path: str, encoding: str = "utf-8", sep: str = ",") -> pd.DataFrame:
    """Numbers parsed by the C reader (fast); on a bad number, reread all as text.

    The text reread lets validation name the row and column of the bad cell.
    """
    header = pd.read_csv(path, nrows=0, encoding=encoding, sep=sep).columns
    numeric = [c for c in _NUMERIC_COLUMNS if c in header]
    try:
        return pd.read_csv(
            path,
            encoding=encoding,
            sep=sep,
            keep_default_na=False,
            dtype={c: (float if c in numeric else object) for c in header},
            na_values={c: [""] for c in numeric},
        )
    except ValueError:
        return pd.read_csv(path, dtype=object, keep_default_na=False, na_filter=False, encoding=encoding, sep=sep)


def _shared_checks(raw: pd.DataFrame, table: _Table, label: str | None, text_ready: bool, fail: _Fail) -> pd.DataFrame:
    """The rules every table has: its columns, at least one row, text as text, no empty id."""
    missing = [c for c in table.columns if c not in raw.columns]
    if missing:
        raise ExportError(
            f"required column missing (expected {table.expected}: {', '.join(table.columns)})",
            column=missing[0],
            source=label,
        )
    if len(raw) == 0:
        raise ExportError(f"{table.name} has a header but no rows", source=label)
    df = raw.reset_index(drop=True)
    if not text_ready:  # XLSX, JSON or a DataFrame may hold numbers or NaN in text columns
        for col in table.text_columns:
            df[col] = _as_text(df[col])
    for col in table.id_columns:
        fail((df[col] == "").to_numpy(), col, "is empty")
    return df


def _first_bad_row(label: str | None) -> _Fail:
    """The ``fail`` of a table read from ``label``: rules are vectorised, the report names one row."""

    def fail(mask: np.ndarray, column: str, message: _Message) -> None:
        # Report the first offending row; `message` may depend on it.
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            text = message(i) if callable(message) else message
            raise ExportError(text, column=column, row=i + 1, source=label)

    return fail


def _as_text(col: pd.Series) -> pd.Series:
    # Cells are compared as written: stripping every cell of a 10^6-row file would cost
    # seconds, and a stray space shows up in the error message's repr anyway.
    if pd.api.types.is_string_dtype(col) and col.dtype != object:
        return col.fillna("") if col.hasnans else col
    # A DataFrame source may hold NaN/None for "empty" and numbers for ids.
    text = col.astype(object).where(col.notna(), "")
    return text.map(
        lambda v: v if isinstance(v, str) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    ).astype(str)


def _as_number(
    df: pd.DataFrame, column: str, fail: _Fail, *, integer: bool = False, required: bool = False
) -> np.ndarray:
    """Parse a numeric column; empty cells become NaN unless ``required``."""
    col = df[column]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=float)
        empty = np.isnan(values)
    else:
        text = _as_text(col)
        empty = (text == "").to_numpy()
        values = pd.to_numeric(text.where(~empty, None), errors="coerce").to_numpy(dtype=float)
        fail(~empty & np.isnan(values), column, lambda i: f"{text.iat[i]!r} is not a number")
    if required:
        fail(empty, column, "is empty")
    if integer:
        fail(~np.isnan(values) & (values != np.round(values)), column, lambda i: f"{values[i]:g} is not a whole number")
    return values
