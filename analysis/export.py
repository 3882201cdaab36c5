"""Reading and validating the tidy export (the CSV contract of docs/exports.md).

The reader here is shared with the options export (:mod:`analysis.options`): the file
formats, the required columns, the empty table, text columns and the first bad row are
handled once by :func:`_load_table`; each table's ``_validate`` holds only its own rules.
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

__all__ = [
    "COLUMNS",
    "CATEGORIES",
    "OUTCOMES",
    "STIMULUS_KINDS",
    "ExportError",
    "MAX_RESPONSE_FACTOR",
    "load_export",
]

#: Columns of the export, in contract order; more may follow them.
COLUMNS: Final[tuple[str, ...]] = (
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
)

#: Categories in the order the paper reports them.
CATEGORIES: Final[tuple[str, ...]] = ("real_vs_synthetic", "reidentification", "diagnosis")
OUTCOMES: Final[tuple[str, ...]] = ("answered", "skipped", "timeout")
#: The stimulus kinds each category may carry.
STIMULUS_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "real_vs_synthetic": ("mixed",),
    "reidentification": ("latent_average",),
    "diagnosis": ("real", "synthetic"),
}

# Columns read as text and never interpreted numerically (ids may look like numbers).
_TEXT_COLUMNS: Final = (
    "study",
    "participant",
    "session",
    "category",
    "question",
    "disorder",
    "stimulus_kind",
    "correct_choice",
    "choice",
    "outcome",
    "started_at",
    "answered_at",
    "seed",
)
#: A response time above this multiple of the time limit cannot come from the server's
#: clock (answers after the deadline plus a grace of seconds are recorded as timeouts).
MAX_RESPONSE_FACTOR: Final = 2
# A chance value more than this far from 1/n_options is a contradiction, not rounding.
_CHANCE_TOLERANCE: Final = 1e-3


class ExportError(ValueError):
    """The export breaks the contract; the message names the column and the row.

    ``row`` is the 1-based data row (the header is not counted), so the offending
    line of the file is ``row + 1``.
    """

    def __init__(
        self, message: str, *, column: str | None = None, row: int | None = None, source: str | None = None
    ) -> None:
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row} (line {row + 1})")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.column = column
        self.row = row
        self.source = source


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


_ANSWERS: Final = _Table(
    name="the export",
    expected="columns",
    columns=COLUMNS,
    text_columns=_TEXT_COLUMNS,
    id_columns=("participant", "session", "question"),
)


def load_export(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read a tidy export and check it against the contract.

    Parameters
    ----------
    source : path or DataFrame
        A CSV file in the tidy-export format, or a DataFrame with those columns
        (for example one the survey built in memory). A DataFrame is copied,
        never modified.

    Returns
    -------
    pandas.DataFrame
        One row per question shown. ``position``, ``n_options``, ``time_limit_ms``
        are integers; ``chance`` is float; ``correct`` and ``response_ms`` are
        float with NaN where the contract leaves them empty; text columns are
        strings with ``""`` for empty.

    Raises
    ------
    ExportError
        (a ``ValueError``) on the first broken rule, naming the column and the
        1-based data row: a missing column, an empty or unknown category,
        outcome or stimulus kind, a ``correct`` that contradicts ``choice`` and
        ``correct_choice``, an empty ``choice`` on an answered question, a
        ``chance`` that is not ``1 / n_options``, a non-numeric number.

    Notes
    -----
    A file may be CSV with any of ``, ; tab |`` as delimiter (sniffed from the
    header), in UTF-8 or, failing that, Latin-1 (then ``df.attrs["read_note"]``
    says so and names the first non-UTF-8 line); or the platform's XLSX
    (first sheet) or JSON (a list of row objects) export. Columns after the
    contract's are kept. Duplicated ``(session, position)`` rows and response
    times above ``MAX_RESPONSE_FACTOR`` times the limit are refused.
    Validation is vectorised, so a 10^6-row export is checked in about a second.
    In R one would write ``read.csv(path, colClasses = "character")`` and then
    ``stopifnot`` each rule.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis import load_export
    >>> row = dict(study="s", participant="p1", session="s1", category="diagnosis",
    ...            position=1, question="q1", disorder="KS", stimulus_kind="real",
    ...            n_options=4, chance=0.25, correct_choice="KS", choice="NS",
    ...            outcome="answered", correct=1, time_limit_ms=15000, response_ms=4200,
    ...            started_at="", answered_at="", seed="7")
    >>> from analysis import ExportError
    >>> try:
    ...     load_export(pd.DataFrame([row]))
    ... except ExportError as err:
    ...     print(err.column, err.row)
    ...     print(str(err).split(": ", 1)[1])
    correct 1
    is 1 but choice 'NS' differs from correct_choice 'KS'
    """
    return _load_table(source, _ANSWERS, _validate)


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


def _validate(df: pd.DataFrame, fail: _Fail) -> pd.DataFrame:
    """The answers table's own rules; :func:`_shared_checks` has run."""
    cat = df["category"]
    fail(
        ~cat.isin(CATEGORIES).to_numpy(),
        "category",
        lambda i: (
            f"{'is empty' if cat.iat[i] == '' else f'unknown category {cat.iat[i]!r}'}"
            f" (expected one of {', '.join(CATEGORIES)})"
        ),
    )
    out = df["outcome"]
    fail(
        ~out.isin(OUTCOMES).to_numpy(),
        "outcome",
        lambda i: f"unknown outcome {out.iat[i]!r} (expected one of {', '.join(OUTCOMES)})",
    )
    kind_ok = np.zeros(len(df), dtype=bool)
    for c, kinds in STIMULUS_KINDS.items():
        kind_ok |= ((cat == c) & df["stimulus_kind"].isin(kinds)).to_numpy()
    fail(
        ~kind_ok,
        "stimulus_kind",
        lambda i: (
            f"{df['stimulus_kind'].iat[i]!r} is not a stimulus kind of category "
            f"{cat.iat[i]!r} (expected {' or '.join(STIMULUS_KINDS[cat.iat[i]])})"
        ),
    )

    position = _as_number(df, "position", fail, integer=True, required=True)
    fail(position < 1, "position", "must be 1 or more")
    n_options = _as_number(df, "n_options", fail, integer=True, required=True)
    fail(n_options < 2, "n_options", "must be 2 or more")
    chance = _as_number(df, "chance", fail, required=True)
    fail(
        np.abs(chance - 1.0 / n_options) > _CHANCE_TOLERANCE,
        "chance",
        lambda i: f"is {chance[i]:g} but 1/n_options is 1/{int(n_options[i])}",
    )
    time_limit = _as_number(df, "time_limit_ms", fail, integer=True, required=True)
    fail(time_limit <= 0, "time_limit_ms", "must be positive")

    answered = (out == "answered").to_numpy()
    choice = df["choice"].to_numpy(dtype=object)
    right = df["correct_choice"].to_numpy(dtype=object)
    fail(right == "", "correct_choice", "is empty")
    fail(answered & (choice == ""), "choice", "is empty but outcome is 'answered'")
    fail(
        ~answered & (choice != ""),
        "choice",
        lambda i: f"is {choice[i]!r} but outcome is {out.iat[i]!r} (must be empty)",
    )
    correct = _as_number(df, "correct", fail)
    fail(answered & np.isnan(correct), "correct", "is empty but outcome is 'answered'")
    fail(
        ~answered & ~np.isnan(correct),
        "correct",
        lambda i: f"is {correct[i]:g} but outcome is {out.iat[i]!r} (must be empty)",
    )
    fail(answered & ~np.isin(correct, (0.0, 1.0)), "correct", lambda i: f"is {correct[i]:g}; must be 0 or 1")
    agrees = (choice == right).astype(float)
    fail(
        answered & (correct != agrees),
        "correct",
        lambda i: (
            f"is {int(correct[i])} but choice {choice[i]!r} "
            f"{'differs from' if correct[i] == 1 else 'equals'} "
            f"correct_choice {right[i]!r}"
        ),
    )
    response = _as_number(df, "response_ms", fail)
    timeout = (out == "timeout").to_numpy()
    fail(timeout & ~np.isnan(response), "response_ms", "must be empty when outcome is 'timeout'")
    fail(~timeout & np.isnan(response), "response_ms", lambda i: f"is empty but outcome is {out.iat[i]!r}")
    fail(response < 0, "response_ms", "must not be negative")
    fail(
        response > MAX_RESPONSE_FACTOR * time_limit,
        "response_ms",
        lambda i: (
            f"is {response[i]:g} ms under a time limit of {int(time_limit[i])} ms; the "
            f"server times a question out a few seconds after its limit, so more than "
            f"{MAX_RESPONSE_FACTOR}x the limit is a corrupted cell or a unit error"
        ),
    )
    keys = df[["study", "session", "position"]]
    duplicated = keys.duplicated(keep="first").to_numpy()
    fail(
        duplicated,
        "position",
        lambda i: (
            f"session {df['session'].iat[i]!r} has position {int(position[i])} twice "
            f"(first at row {int(np.flatnonzero((keys == keys.iloc[i]).all(axis=1))[0]) + 1}"
            "); a duplicated row would be counted twice"
        ),
    )

    df["position"] = position.astype(np.int64)
    df["n_options"] = n_options.astype(np.int64)
    df["chance"] = chance
    df["time_limit_ms"] = time_limit.astype(np.int64)
    df["correct"] = correct
    df["response_ms"] = response
    return df


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
