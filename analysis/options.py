"""Reading and validating the item-level export: one row per option shown (docs/exports.md)."""

from __future__ import annotations

import os
from typing import Final

import numpy as np
import pandas as pd

from .export import CATEGORIES
from .table_reader import _as_number, _Fail, _load_table, _Table

__all__ = ["OPTION_COLUMNS", "PORTRAIT_KINDS", "load_options"]

#: Columns of the options export, in contract order; more may follow them.
OPTION_COLUMNS: Final[tuple[str, ...]] = (
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
)
#: ``kind`` of a portrait option; a disorder option (diagnosis) has an empty kind.
PORTRAIT_KINDS: Final[tuple[str, ...]] = ("real", "synthetic")

_TEXT_COLUMNS: Final = (
    "study",
    "participant",
    "session",
    "question",
    "category",
    "option",
    "portrait",
    "kind",
    "disorder",
)
_OPTIONS: Final = _Table(
    name="the options export",
    expected="the options export's columns",
    columns=OPTION_COLUMNS,
    text_columns=_TEXT_COLUMNS,
    id_columns=("participant", "session", "question", "option"),
)


def load_options(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read an options export (one row per option shown) and check it against the contract.

    Parameters
    ----------
    source : path or DataFrame
        The platform's ``options.csv`` (any of ``, ; tab |`` as delimiter,
        UTF-8 or Latin-1), ``options.xlsx`` or ``options.json``, read exactly as
        :func:`load_export` reads the answers; or a DataFrame with those columns
        (copied, never modified).

    Returns
    -------
    pandas.DataFrame
        One row per option. ``position`` and ``slot`` are integers;
        ``is_correct`` and ``chosen`` are 0/1 integers; ``used_in_training``
        is float, 1.0/0.0 for real portraits and NaN otherwise; text columns
        are strings with ``""`` for empty.

    Raises
    ------
    ExportError
        (a ``ValueError``) on the first broken rule, naming the column and the
        1-based data row: a missing column, an empty id, an unknown category or
        kind, a portrait without a kind (or a kind without a portrait), a real
        portrait without ``used_in_training``, a flag that is not 0 or 1, the
        same slot twice in a question, a question with no right option or more
        than one, more than one chosen option, and, in a re-identification
        question, an option that is not a real portrait or a right option that
        is not the training member.

    Notes
    -----
    A question is identified by ``(study, session, position)``. A skipped or
    timed-out question has every ``chosen`` at 0: the options export carries no
    outcome column, so "answered" means "exactly one option chosen" here.
    In R: ``read.csv(path, colClasses = "character")``, then ``stopifnot`` each
    rule, e.g. ``with(d, all(tapply(as.integer(chosen), list(session, position),
    sum) <= 1))``.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.options import load_options
    >>> rows = [dict(study="s", participant="p1", session="1", position=1, question="q1",
    ...              category="reidentification", option=code, slot=slot,
    ...              portrait=f"hash{slot}", kind="real", disorder="KS",
    ...              used_in_training=int(slot == 2), is_correct=int(slot == 2),
    ...              chosen=int(slot == 1)) for slot, code in ((1, "A"), (2, "B"), (3, "C"))]
    >>> load_options(pd.DataFrame(rows))[["option", "used_in_training", "chosen"]].values.tolist()
    [['A', 0.0, 1], ['B', 1.0, 0], ['C', 0.0, 0]]
    >>> rows[0]["is_correct"] = 1
    >>> from analysis import ExportError
    >>> try:
    ...     load_options(pd.DataFrame(rows))
    ... except ExportError as err:
    ...     print(err.column, err.row)
    is_correct 1
    """
    return _load_table(source, _OPTIONS, _validate)


def _validate(df: pd.DataFrame, fail: _Fail) -> pd.DataFrame:
    """The options table's own rules; the shared ones (columns, rows, text, ids) have run."""
    cat = df["category"]
    fail(
        ~cat.isin(CATEGORIES).to_numpy(),
        "category",
        lambda i: (
            f"{'is empty' if cat.iat[i] == '' else f'unknown category {cat.iat[i]!r}'}"
            f" (expected one of {', '.join(CATEGORIES)})"
        ),
    )
    kind = df["kind"]
    fail(
        ~kind.isin((*PORTRAIT_KINDS, "")).to_numpy(),
        "kind",
        lambda i: f"unknown kind {kind.iat[i]!r} (expected real, synthetic or empty)",
    )
    has_portrait = (df["portrait"] != "").to_numpy()
    fail(has_portrait & (kind == "").to_numpy(), "kind", "is empty but the option is a portrait")
    fail(~has_portrait & (kind != "").to_numpy(), "portrait", lambda i: f"is empty but kind is {kind.iat[i]!r}")

    position = _as_number(df, "position", fail, integer=True, required=True)
    fail(position < 1, "position", "must be 1 or more")
    slot = _as_number(df, "slot", fail, integer=True, required=True)
    fail(slot < 1, "slot", "must be 1 or more")
    flags = {col: _as_flag(df, col, fail) for col in ("is_correct", "chosen")}
    used = _as_number(df, "used_in_training", fail)
    real = (kind == "real").to_numpy()
    fail(~np.isnan(used) & ~np.isin(used, (0.0, 1.0)), "used_in_training", lambda i: f"is {used[i]:g}; must be 0 or 1")
    fail(real & np.isnan(used), "used_in_training", "is empty but the portrait is real")
    fail(
        ~real & ~np.isnan(used),
        "used_in_training",
        lambda i: f"is {used[i]:g} but kind is {kind.iat[i]!r} (only real portraits have it)",
    )

    question = pd.DataFrame({"study": df["study"], "session": df["session"], "position": position})
    key = question.groupby(["study", "session", "position"], sort=False).ngroup().to_numpy()
    slots = pd.DataFrame({"key": key, "slot": slot})
    fail(
        slots.duplicated(keep="first").to_numpy(),
        "slot",
        lambda i: (
            f"session {df['session'].iat[i]!r}, position {int(position[i])} has slot "
            f"{int(slot[i])} twice; a duplicated row would be counted twice"
        ),
    )
    n_right = np.bincount(key, weights=flags["is_correct"])[key]
    fail(
        n_right != 1,
        "is_correct",
        lambda i: (
            f"session {df['session'].iat[i]!r}, position {int(position[i])} has "
            f"{int(n_right[i])} right options (expected exactly 1)"
        ),
    )
    n_chosen = np.bincount(key, weights=flags["chosen"])[key]
    fail(
        n_chosen > 1,
        "chosen",
        lambda i: (
            f"session {df['session'].iat[i]!r}, position {int(position[i])} has "
            f"{int(n_chosen[i])} chosen options (at most 1; none when skipped or "
            "timed out)"
        ),
    )
    reid = (cat == "reidentification").to_numpy()
    fail(
        reid & ~real,
        "kind",
        lambda i: (
            f"is {kind.iat[i]!r} in a re-identification question (its options are "
            "real portraits: the training member and non-members)"
        ),
    )
    fail(
        reid & (used != flags["is_correct"]),
        "is_correct",
        lambda i: (
            f"is {int(flags['is_correct'][i])} but used_in_training is {int(used[i])}: "
            "a re-identification question's right option is its training member"
        ),
    )

    df["position"] = position.astype(np.int64)
    df["slot"] = slot.astype(np.int64)
    df["is_correct"] = flags["is_correct"].astype(np.int64)
    df["chosen"] = flags["chosen"].astype(np.int64)
    df["used_in_training"] = used
    return df


def _as_flag(df: pd.DataFrame, column: str, fail: _Fail) -> np.ndarray:
    """A required 0/1 column, as float (typed as integers once every rule has passed)."""
    values = _as_number(df, column, fail, required=True)
    fail(~np.isin(values, (0.0, 1.0)), column, lambda i: f"is {values[i]:g}; must be 0 or 1")
    return values
