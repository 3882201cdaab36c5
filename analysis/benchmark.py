"""Time the full report on synthetic exports of 10^4, 10^5 and 10^6 rows.

``python -m analysis.benchmark [--rows 10000 100000 1000000]`` prints, per size,
the seconds spent reading and validating the CSV, running every test, and
writing JSON, Markdown and figures. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .export import COLUMNS

__all__ = ["synthetic_export", "main"]

_CATS = np.array(["real_vs_synthetic", "reidentification", "diagnosis"])
_OPTIONS = np.array([4, 3, 4])
_LIMITS = np.array([30_000, 30_000, 15_000])
_DISORDERS = np.array([f"D{i:02d}" for i in range(20)])


def synthetic_export(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A valid export of about ``n_rows`` rows: sessions of 10 questions per category.

    Experts have their own skill (so answers cluster), 5% skips, 8% timeouts.

    Examples
    --------
    >>> from analysis import load_export
    >>> from analysis.benchmark import synthetic_export
    >>> len(load_export(synthetic_export(300)))
    300
    """
    rng = np.random.default_rng(seed)
    n_sessions = max(1, n_rows // 30)
    n = n_sessions * 30
    session = np.repeat(np.arange(n_sessions), 30)
    position = np.tile(np.arange(1, 31), n_sessions)
    cat_idx = (position - 1) // 10
    n_options = _OPTIONS[cat_idx]
    chance = 1.0 / n_options
    kind = np.where(
        cat_idx == 0,
        "mixed",
        np.where(cat_idx == 1, "latent_average", np.where(rng.random(n) < 0.5, "real", "synthetic")),
    )
    skill = rng.normal(0.0, 0.5, n_sessions)[session]
    base = np.array([0.33, 0.34, 0.48])[cat_idx]
    p_correct = 1 / (1 + np.exp(-(np.log(base / (1 - base)) + skill)))
    u = rng.random(n)
    outcome = np.where(u < 0.05, "skipped", np.where(u < 0.13, "timeout", "answered"))
    answered = outcome == "answered"
    correct = answered & (rng.random(n) < p_correct)
    disorder = _DISORDERS[rng.integers(0, 20, n)]
    slot = rng.integers(0, n_options) + 1
    right = np.where(cat_idx == 2, disorder, slot.astype(str))
    wrong = np.where(
        cat_idx == 2,
        _DISORDERS[(np.searchsorted(_DISORDERS, disorder) + rng.integers(1, 20, n)) % 20],
        ((slot + rng.integers(0, n_options - 1)) % n_options + 1).astype(str),
    )
    choice = np.where(answered, np.where(correct, right, wrong), "")
    limit = _LIMITS[cat_idx]
    response = (rng.random(n) * (limit - 500) + 300).astype(np.int64)
    timed_out = outcome == "timeout"
    start = (
        np.datetime64("2024-01-01T00:00:00.000")
        + session * np.timedelta64(3, "h")
        + (position - 1) * np.timedelta64(31, "s")
    )
    stamp = np.char.add(np.datetime_as_string(start, unit="ms"), "Z")
    answered_at = np.char.add(np.datetime_as_string(start + response.astype("timedelta64[ms]"), unit="ms"), "Z")
    sid = np.char.add("S", session.astype(str))
    frame = pd.DataFrame(
        {
            "study": "bench",
            "participant": np.char.add("P", session.astype(str)),
            "session": sid,
            "category": _CATS[cat_idx],
            "position": position,
            "question": np.char.add(np.char.add(sid, "-"), position.astype(str)),
            "disorder": disorder,
            "stimulus_kind": kind,
            "n_options": n_options,
            "chance": chance,
            "correct_choice": right,
            "choice": choice,
            "outcome": outcome,
            "correct": np.where(answered, correct.astype(float), np.nan),
            "time_limit_ms": limit,
            "response_ms": np.where(timed_out, np.nan, response.astype(float)),
            "started_at": stamp,
            "answered_at": np.where(timed_out, "", answered_at),
            "seed": session.astype(str),
        }
    )
    return frame[list(COLUMNS)].iloc[:n_rows]


def _time_report(path: Path, out: Path) -> dict[str, float]:
    from .cli import main as cli_main
    from .export import load_export
    from .report import build_report

    t0 = time.perf_counter()
    df = load_export(path)
    t1 = time.perf_counter()
    build_report(df)
    t2 = time.perf_counter()
    # The whole command line, as a user runs it (reads, tests, writes everything).
    rc = cli_main(["report", str(path), "--json", str(out / "bench.json")])
    t3 = time.perf_counter()
    if rc != 0:
        raise RuntimeError(f"report failed with exit status {rc}")
    return {"read+validate": t1 - t0, "tests": t2 - t1, "full command": t3 - t2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for n in args.rows:
            path = tmp / f"export_{n}.csv"
            synthetic_export(n, seed=n).to_csv(path, index=False)
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                timing = _time_report(path, tmp)
            results.append((n, timing))
            print(
                f"{n:>9,} rows: read+validate {timing['read+validate']:6.2f} s, "
                f"tests {timing['tests']:6.2f} s, full report command "
                f"(read, test, JSON, Markdown, figures) {timing['full command']:6.2f} s",
                flush=True,
            )
    if len(results) > 1:
        (n0, t0), (n1, t1) = results[0], results[-1]
        print(
            f"{n1 / n0:.0f}x the rows took {t1['full command'] / t0['full command']:.1f}x the time for the full command"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
