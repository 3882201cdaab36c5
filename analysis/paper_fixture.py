"""An export whose counts match the paper's expert survey; writes fixtures/paper_export.csv.

Run ``python -m analysis.paper_fixture [--out PATH]``. The counts are derived in
docs/statistics.md (Reproducing the paper): they are one set consistent with every number the paper
reports, not the study's raw data (which was never published).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from .export import COLUMNS

__all__ = ["PAPER_COUNTS", "paper_export", "main"]

SEED = 20230601
STUDY = "gestaltgan-2023"
# Codes of disorders among the GestaltMatcher database's most frequent ones.
DISORDERS = (
    "CDLS",
    "KS",
    "WBS",
    "NS",
    "AS",
    "SMS",
    "KBG",
    "DS",
    "DEL22Q11",
    "MWS",
    "PWS",
    "RTS",
    "FXS",
    "SOTOS",
    "CS",
    "PMS",
    "SRS",
    "TCS",
    "WHS",
    "XLID",
)


@dataclass(frozen=True)
class Cell:
    """How many questions of one kind were presented, skipped, timed out, answered correctly."""

    presented: int
    skipped: int
    timeout: int
    correct: int

    @property
    def answered(self) -> int:
        return self.presented - self.skipped - self.timeout


#: (category, stimulus_kind) -> counts. Totals: 1860 presented, 106 skipped, 151 timeouts,
#: 1603 answered. 177/531 = 33.3% (p = 1.9e-5 vs 1/4); 176/523 = 33.7% (p = 0.889 vs 1/3);
#: diagnosis 132/275 = 48.0% real, 133/274 = 48.5% synthetic.
PAPER_COUNTS: dict[tuple[str, str], Cell] = {
    ("real_vs_synthetic", "mixed"): Cell(620, 30, 59, 177),
    ("reidentification", "latent_average"): Cell(620, 46, 51, 176),
    ("diagnosis", "real"): Cell(310, 15, 20, 132),
    ("diagnosis", "synthetic"): Cell(310, 15, 21, 133),
}
_OPTIONS = {"real_vs_synthetic": 4, "reidentification": 3, "diagnosis": 4}
_LIMIT_MS = {"real_vs_synthetic": 30_000, "reidentification": 30_000, "diagnosis": 15_000}
# 63 sessions: 60 full (10 per category) and three that ended after 20 questions, which is
# how 63 sessions of 30 questions give the paper's 1860 answers rather than 1890.
_SESSION_SHAPES = [(10, 10, 10)] * 60 + [(7, 7, 6), (7, 6, 7), (6, 7, 7)]


def _sessions() -> pd.DataFrame:
    rows = []
    for s, shape in enumerate(_SESSION_SHAPES, start=1):
        position = 0
        for category, count in zip(_OPTIONS, shape):
            for _ in range(count):
                position += 1
                rows.append((f"P{s:03d}", f"S{s:03d}", category, position))
    return pd.DataFrame(rows, columns=["participant", "session", "category", "position"])


def paper_export(seed: int = SEED) -> pd.DataFrame:
    """Build the paper-consistent export as a DataFrame (deterministic for a seed).

    Examples
    --------
    >>> from analysis.paper_fixture import paper_export
    >>> df = paper_export()
    >>> len(df), int((df["outcome"] == "answered").sum())
    (1860, 1603)
    """
    rng = np.random.default_rng(seed)
    df = _sessions()
    # Diagnosis questions are half real, half synthetic, in random order per study.
    kind = np.where(
        df["category"] == "real_vs_synthetic",
        "mixed",
        np.where(df["category"] == "reidentification", "latent_average", ""),
    )
    diag = np.flatnonzero(df["category"].to_numpy() == "diagnosis")
    kind[diag] = rng.permutation(np.repeat(["real", "synthetic"], len(diag) // 2))
    df["stimulus_kind"] = kind
    # Experts differ in skill; weighting who answers correctly by it gives the export
    # realistic within-participant correlation without changing any total.
    skill = pd.Series(rng.gamma(4.0, 0.25, df["participant"].nunique()), index=sorted(df["participant"].unique()))
    outcome = np.empty(len(df), dtype=object)
    correct = np.full(len(df), np.nan)
    for (category, stim), cell in PAPER_COUNTS.items():
        idx = rng.permutation(np.flatnonzero((df["category"] == category).to_numpy() & (kind == stim)))
        assert len(idx) == cell.presented, (category, stim, len(idx))
        outcome[idx[: cell.skipped]] = "skipped"
        outcome[idx[cell.skipped : cell.skipped + cell.timeout]] = "timeout"
        answered = idx[cell.skipped + cell.timeout :]
        outcome[answered] = "answered"
        weight = skill[df["participant"].to_numpy()[answered]].to_numpy()
        right = rng.choice(answered, size=cell.correct, replace=False, p=weight / weight.sum())
        correct[answered] = 0.0
        correct[right] = 1.0
    df["outcome"] = outcome
    df["correct"] = correct
    return _fill_question_columns(df, rng)


def _fill_question_columns(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(df)
    cat = df["category"].to_numpy()
    n_options = np.array([_OPTIONS[c] for c in cat])
    disorder = rng.choice(DISORDERS, size=n)
    # Category 1 and 2 options are image slots; diagnosis options are disorder codes.
    slot = rng.integers(0, n_options) + 1
    correct_choice = np.where(cat == "diagnosis", disorder, slot.astype(str))
    wrong_slot = (slot - 1 + rng.integers(1, n_options)) % n_options + 1
    index = np.array([DISORDERS.index(d) for d in disorder])
    other = np.array(DISORDERS)[(index + rng.integers(1, len(DISORDERS), n)) % len(DISORDERS)]
    wrong_choice = np.where(cat == "diagnosis", other, wrong_slot.astype(str))
    answered = df["outcome"].to_numpy() == "answered"
    choice = np.where(answered, np.where(df["correct"].to_numpy() == 1, correct_choice, wrong_choice), "")
    limit = np.array([_LIMIT_MS[c] for c in cat])
    timeout = df["outcome"].to_numpy() == "timeout"
    skipped = df["outcome"].to_numpy() == "skipped"
    response = np.minimum(limit - 200, rng.lognormal(np.log(limit * 0.35), 0.45)).astype(int)
    response = np.where(skipped, (response * 0.6).astype(int), response)
    elapsed = np.where(timeout, limit, response) + 1500  # next question loads
    session_start = {
        s: datetime(2023, 3, 1, 9, tzinfo=UTC) + timedelta(hours=7 * i)
        for i, s in enumerate(sorted(df["session"].unique()))
    }
    offset = pd.Series(elapsed).groupby(df["session"]).cumsum().to_numpy() - elapsed
    started = [session_start[s] + timedelta(milliseconds=int(o)) for s, o in zip(df["session"], offset)]
    seeds = {s: str(1000 + i * 7919) for i, s in enumerate(sorted(df["session"].unique()))}
    out = pd.DataFrame(
        {
            "study": STUDY,
            "participant": df["participant"],
            "session": df["session"],
            "category": cat,
            "position": df["position"],
            "question": [f"{s}-Q{p:02d}" for s, p in zip(df["session"], df["position"])],
            "disorder": disorder,
            "stimulus_kind": df["stimulus_kind"],
            "n_options": n_options,
            "chance": [repr(1 / int(k)) for k in n_options],
            "correct_choice": correct_choice,
            "choice": choice,
            "outcome": df["outcome"],
            "correct": ["" if np.isnan(c) else str(int(c)) for c in df["correct"]],
            "time_limit_ms": limit,
            "response_ms": ["" if t else str(r) for t, r in zip(timeout, response)],
            "started_at": [_iso(t) for t in started],
            "answered_at": [
                "" if to else _iso(t + timedelta(milliseconds=int(r))) for to, t, r in zip(timeout, started, response)
            ],
            "seed": df["session"].map(seeds),
        }
    )
    return out[list(COLUMNS)]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.paper_fixture", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fixtures/paper_export.csv", type=Path)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    paper_export().to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
