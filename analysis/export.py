"""Reading and validating the tidy export (the CSV contract of docs/exports.md).

The reader here is shared with the options export (:mod:`analysis.options`): the file
formats, the required columns, the empty table, text columns and the first bad row are
handled once by :func:`analysis.table_reader._load_table`; each table's ``_validate``
holds only its own rules. The error both raise is :class:`analysis.errors.ExportError`.
"""

from __future__ import annotations

import os
from typing import Final

import numpy as np
import pandas as pd

from .table_reader import _as_number, _Fail, _load_table, _Table

__all__ = [
    "COLUMNS",
    "CATEGORIES",
    "OUTCOMES",
    "STIMULUS_KINDS",
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
