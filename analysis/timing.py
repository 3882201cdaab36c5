"""Response times no reader could have produced: too fast to have looked, or past the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_GRACE_MS",
    "DEFAULT_MIN_RESPONSE_MS",
    "ImplausibleTimes",
    "implausible_times",
]

#: Below one second nobody has looked at four faces (or one face and four disorder
#: names) and chosen: an eye needs about 200-300 ms per fixation. The server refuses
#: answers before the arming delay (400 ms by default), so faster ones are not possible
#: at all; between that and this floor they are possible but implausible.
DEFAULT_MIN_RESPONSE_MS = 1000.0
#: The platform's default grace (``Study.grace_ms``): answers arriving later than
#: limit + grace are recorded as timeouts, so an answer beyond it means the export
#: or the clock is wrong.
DEFAULT_GRACE_MS = 2000.0

_FLAG_COLUMNS = [
    "category",
    "participant",
    "session",
    "position",
    "outcome",
    "correct",
    "response_ms",
    "time_limit_ms",
    "too_fast",
    "beyond_limit",
]


@dataclass(frozen=True)
class ImplausibleTimes:
    """The flagged rows and the thresholds used."""

    flags: pd.DataFrame
    min_response_ms: float
    grace_ms: float

    def summary(self) -> dict[str, Any]:
        by_cat = self.flags.groupby("category", sort=False)[["too_fast", "beyond_limit"]].sum()
        return {
            "min_response_ms": self.min_response_ms,
            "grace_ms": self.grace_ms,
            "n_too_fast": int(self.flags["too_fast"].sum()),
            "n_beyond_limit": int(self.flags["beyond_limit"].sum()),
            "by_category": {
                str(c): {"n_too_fast": int(r["too_fast"]), "n_beyond_limit": int(r["beyond_limit"])}
                for c, r in by_cat.iterrows()
            },
            "rule": f"answered or skipped faster than {self.min_response_ms:g} ms, or "
            f"later than time_limit_ms + {self.grace_ms:g} ms; flagged and "
            "counted, never dropped from the primary analysis",
        }


def implausible_times(
    df: pd.DataFrame, min_response_ms: float = DEFAULT_MIN_RESPONSE_MS, grace_ms: float = DEFAULT_GRACE_MS
) -> ImplausibleTimes:
    """Answers and skips faster than a plausibility floor or later than limit + grace.

    Parameters
    ----------
    df : pandas.DataFrame
        A validated export (:func:`load_export`).
    min_response_ms : float
        Plausibility floor (``DEFAULT_MIN_RESPONSE_MS``).
    grace_ms : float
        The study's grace after the time limit (``DEFAULT_GRACE_MS``, the
        platform's default; take ``settings.json``'s ``grace_ms``).

    Returns
    -------
    ImplausibleTimes
        ``flags``: one row per flagged question (category, participant,
        session, position, outcome, correct, response_ms, time_limit_ms and
        the booleans ``too_fast`` and ``beyond_limit``); ``summary()`` the
        counts, overall and per category.

    Notes
    -----
    Timeouts have no response time and are never flagged. R:
    ``subset(d, response_ms < floor | response_ms > time_limit_ms + grace)``.

    Examples
    --------
    >>> from analysis import load_export, implausible_times
    >>> times = implausible_times(load_export("fixtures/paper_export.csv"))
    >>> times.summary()["n_too_fast"], times.summary()["n_beyond_limit"]
    (1, 0)
    """
    if not min_response_ms >= 0:
        raise ValueError(f"min_response_ms must not be negative, got {min_response_ms!r}")
    if not grace_ms >= 0:
        raise ValueError(f"grace_ms must not be negative, got {grace_ms!r}")
    response = df["response_ms"].to_numpy(dtype=float)
    limit = df["time_limit_ms"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        too_fast = response < min_response_ms
        beyond = response > limit + grace_ms
    flagged = np.flatnonzero(too_fast | beyond)
    flags = df.iloc[flagged][_FLAG_COLUMNS[:-2]].copy()
    flags["too_fast"] = too_fast[flagged]
    flags["beyond_limit"] = beyond[flagged]
    return ImplausibleTimes(
        flags=flags.reset_index(drop=True), min_response_ms=float(min_response_ms), grace_ms=float(grace_ms)
    )
