"""What a load run prints after the run: its summary (requests, CPU, sessions, the kill), latency per
request kind, CPU per question, the answers against the export, and the targets with PASS/FAIL; and
queries.py, run after the servers are gone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tools.load.checks import Verdict
from tools.load.common import REPO
from tools.load.participants import Run


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def latency_table(run: Run) -> dict[str, dict[str, float]]:
    by_label: dict[str, list[float]] = defaultdict(list)
    failed: Counter = Counter()
    for a in run.attempts:
        if a.status is not None and a.status < 500:
            by_label[a.label].append(a.ms)
        else:
            failed[a.label] += 1
    order = [
        "healthz",
        "current question",
        "answer",
        "skip",
        "expire",
        "clock start",
        "image",
        "session start",
        "begin",
    ]
    stats = {}
    print(f"{'request':18}{'n':>8}{'failed':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label in order:
        values = by_label.get(label, [])
        if not values:
            continue
        stats[label] = {q: percentile(values, q) for q in (50, 95, 99, 100)}
        s = stats[label]
        print(f"{label:18}{len(values):>8}{failed[label]:>8}{s[50]:>10.1f}{s[95]:>10.1f}{s[99]:>10.1f}{s[100]:>10.1f}")
    return stats


def run_summary(args: argparse.Namespace, run: Run, client_cpu: float) -> None:
    """The run's section: requests, the CPU each party used, CPU per question, sessions, the kill."""
    print(
        f"\n== run: {args.participants} participants (ramp {args.ramp:.0f} s, think {args.think[0]}-"
        f"{args.think[1]} s, ~{args.timeout_share:.0%} left to time out, ~{args.skip_share:.0%} skipped)"
    )
    print(
        f"wall {run.wall:.1f} s, {len(run.attempts)} requests ({len(run.attempts) / run.wall:.0f}/s); "
        f"CPU s used on the same {os.cpu_count()} cores: load client {client_cpu:.1f}, gunicorn workers "
        f"{run.cpu['gunicorn']:.1f} (the killed one's not counted), PostgreSQL backends "
        f"{run.cpu['postgres']:.1f}; whole machine busy {run.cpu['machine']:.1f} (steal "
        f"{run.cpu['steal']:.1f}) of {run.wall * os.cpu_count():.0f} available"
    )
    others = run.cpu["machine"] - client_cpu - run.cpu["gunicorn"] - run.cpu["postgres"]
    print(
        f"busy time not accounted to this run's processes (other jobs on the machine, PostgreSQL's "
        f"own writers, the killed worker, the kernel): {others:.1f} CPU s"
    )
    cpu_per_question(run)
    print(
        f"sessions started {run.sessions_started}, peak active {run.peak_active}, finished {run.finished}, "
        f"gave up {len(run.gave_up)}"
    )
    for line in run.gave_up[:10]:
        print("  gave up:", line)
    if run.kill:
        print(
            f"SIGKILL worker {run.kill['pid']} of {run.kill['instance']} "
            f"({'mid-request' if run.kill['busy'] else 'none seen mid-request in 5 s'}; "
            f"{run.kill['in_flight']} requests to {run.kill['instance']} awaiting responses) "
            f"at {run.kill['at']:.1f} s "
            f"(after {run.kill['acks']} answers); respawned as {run.kill.get('respawned_as')} "
            f"in {run.kill.get('respawn_s', float('nan')):.1f} s"
        )
    for what, count in run.anomalies.items():
        print(f"  note: {what}: {count}")


def cpu_per_question(run: Run) -> dict[str, float]:
    """Worker and PostgreSQL CPU per question (its current-question request, portraits, clock start and answer,
    plus its share of session starts and the /healthz probes, which are taken out at their measured cost),
    beside the CPU of one /healthz measured alone in the same run."""
    questions = sum(1 for a in run.attempts if a.label == "clock start" and a.status == 200)
    probes = sum(1 for a in run.attempts if a.label == "healthz" and a.status == 200)
    figures = {}
    for what in ("gunicorn", "postgres"):
        spent = run.cpu[what] - probes * run.healthz_cpu.get(what, 0.0)
        figures[what] = 1000 * spent / max(questions, 1)
        figures[f"healthz {what}"] = 1000 * run.healthz_cpu.get(what, 0.0)
    ratio = figures["gunicorn"] / figures["healthz gunicorn"] if figures["healthz gunicorn"] else float("nan")
    print(
        f"CPU per question ({questions} questions, practice included; {probes} /healthz probes taken out): "
        f"gunicorn workers {figures['gunicorn']:.1f} ms, PostgreSQL backends {figures['postgres']:.1f} ms; "
        f"one /healthz alone: workers {figures['healthz gunicorn']:.2f} ms, PostgreSQL "
        f"{figures['healthz postgres']:.2f} ms; a question costs {ratio:.1f} x /healthz in worker CPU"
    )
    return figures


def export_summary(run: Run, verdict: Verdict) -> None:
    """What was acknowledged against what the export holds."""
    vias = Counter(ack.via for ack in run.acks.values())
    outcomes = Counter(ack.outcome for ack in run.acks.values())
    print(
        f"acknowledged {verdict.acknowledged} ({dict(outcomes)}; by 200: {vias['200']}, by 409 "
        f"already_answered after a lost response: {vias['409']})"
    )
    print(
        f"export rows {verdict.in_export}; lost {verdict.lost}; duplicated {verdict.duplicated}; other "
        f"outcome than acknowledged {verdict.mismatched}; conflicting acknowledgements {len(run.ack_conflicts)}"
    )
    late = Counter(ack.intent for ack in run.acks.values() if ack.intent != ack.outcome)
    print(
        f"answers and skips sent in time by the client's clock but recorded as timeouts, because they "
        f"reached the server after limit + grace: {sum(late.values())} {dict(late)}"
    )
    print(
        f"export rows never acknowledged to a client: {sum(verdict.unacknowledged.values())} "
        f"{dict(verdict.unacknowledged)} (server-recorded timeouts)"
    )
    print(f"sessions by stage: {dict(verdict.sessions)}")


def run_queries() -> bool:
    print("\n== SQL queries per request (tools/load/queries.py, its own throwaway database)", flush=True)
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("queries.py"))], cwd=REPO)
    return result.returncode == 0


def report_targets(args, run: Run, stats, verdict: Verdict, unexplained: int, queries_ok: bool | None) -> bool:
    n = args.participants
    answer_p95, healthz_p95 = stats.get("answer", {}).get(95, float("inf")), stats["healthz"][95]
    targets = [
        (
            f"{n} concurrent participants: peak {run.peak_active} active at once, {run.finished} of {n} finished",
            run.peak_active == n and run.finished == n,
        ),
        (
            f"zero lost answers: {verdict.lost} of {verdict.acknowledged} acknowledged missing from the export, "
            f"{verdict.mismatched} with another outcome",
            verdict.lost == 0 and verdict.mismatched == 0 and not run.ack_conflicts,
        ),
        (f"zero duplicated answers: {verdict.duplicated} duplicates in the export", verdict.duplicated == 0),
        (
            f"no 5xx or lost response apart from the killed worker's: {unexplained} unexplained",
            unexplained == 0 and bool(run.kill),
        ),
        (
            f"p95 answer {answer_p95:.1f} ms <= 3 x p95 healthz {healthz_p95:.1f} ms = {3 * healthz_p95:.1f} ms",
            answer_p95 <= 3 * healthz_p95,
        ),
    ]
    if queries_ok is not None:
        targets.append(("SQL queries per request constant from 100 to 100,000 portraits", queries_ok))
    print("\n== targets")
    for text, ok in targets:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    return all(ok for _, ok in targets)
