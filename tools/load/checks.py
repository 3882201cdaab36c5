"""The checks after a load run: every acknowledged answer against the tidy export (verify, Verdict), and
every 5xx or lost response attributed to the killed worker, or counted as unexplained
(attribute_failures).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tools.load.participants import Run
from tools.load.servers import access_log_entries


def attribute_failures(run: Run) -> tuple[int, int]:
    """Every 5xx and every lost response, attributed. Returns (allowed, unexplained): allowed are requests
    in flight on the killed worker when it died, or sent on a connection it held (refused right after)."""
    logged: dict[str, tuple[int, int]] = {}
    for instance in run.instances:
        logged.update(access_log_entries(instance))
    kill = run.kill
    allowed, unexplained = [], []
    for a in run.attempts:
        if a.status is not None and a.status < 500:
            continue
        pid = logged.get(a.request_id, (None, None))[0]
        what = f"{a.label} on {a.instance} at {a.started:.2f}-{a.ended:.2f} s: {a.status or a.error}"
        on_victim_instance = kill and a.instance == kill["instance"]
        if a.status is None and pid is None and on_victim_instance and a.started <= kill["at"] <= a.ended + 0.05:
            allowed.append(what + " (in flight on the killed worker)")
        elif a.status is None and pid is None and on_victim_instance and 0 <= a.started - kill["at"] < 2.0:
            allowed.append(what + " (sent on a connection the killed worker held)")
        elif kill and pid == kill["pid"]:
            allowed.append(what + " (served by the killed worker)")
        else:
            unexplained.append(what + (f" (worker {pid})" if pid else " (no server log of it)"))
    n_5xx = sum(1 for a in run.attempts if a.status is not None and a.status >= 500)
    n_lost = sum(1 for a in run.attempts if a.status is None)
    print(f"5xx responses: {n_5xx}; requests without a response (connection error / client timeout): {n_lost}")
    if kill:
        finished = sum(1 for pid, _ in logged.values() if pid == kill["pid"])
        print(f"the killed worker {kill['pid']} had finished and logged {finished} requests before the SIGKILL")
    for line in allowed:
        print("  allowed:    ", line)
    for line in unexplained[:30]:
        print("  UNEXPLAINED:", line)
    if len(unexplained) > 30:
        print(f"  ... and {len(unexplained) - 30} more unexplained")
    return len(allowed), len(unexplained)


@dataclass
class Verdict:
    acknowledged: int = 0
    in_export: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    unacknowledged: Counter = field(default_factory=Counter)
    sessions: Counter = field(default_factory=Counter)


def verify(run: Run, slug: str) -> Verdict:
    """Every acknowledged outcome is in the tidy export exactly once, with the acknowledged outcome (and the
    choice sent, when answered)."""
    from django.db import connections

    from survey.export import answers_frame
    from survey.models import Answer, QuizSession, Study

    study = Study.objects.get(slug=slug)
    frame = answers_frame(study)
    verdict = Verdict(acknowledged=len(run.acks), in_export=len(frame))
    verdict.duplicated = int(frame["question"].duplicated().sum() + frame.duplicated(["session", "position"]).sum())
    rows = {int(row.question): row for row in frame.itertuples(index=False)}
    for question_id, ack in run.acks.items():
        row = rows.get(question_id)
        if row is None:
            verdict.lost += 1
        elif row.outcome != ack.outcome or (ack.outcome == "answered" and row.choice != ack.choice):
            verdict.mismatched += 1
    for question_id, row in rows.items():
        if question_id not in run.acks:
            verdict.unacknowledged[row.outcome] += 1
    verdict.sessions = Counter(QuizSession.objects.filter(study=study).values_list("stage", flat=True))
    assert Answer.objects.filter(question__session__study=study, question__is_practice=False).count() == len(frame)
    connections.close_all()
    return verdict
