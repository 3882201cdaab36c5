"""When a question's clock starts, when it runs out and when it accepts an answer: pure functions, written once.

The clock is the server's. It starts at the earliest of three moments, and the export records which one:
- `client_start`: the page reports that the portraits are on screen;
- `portraits_delivered`: the server has delivered the question's last portrait, plus a short transfer
  allowance (so a page, or a script, that holds back its report gains no unrecorded viewing time);
- `load_allowance`: the question was served, plus the load allowance (portraits that never arrive).
A question arms `arming_delay_ms` after its clock starts: an answer before that is a click meant for the
question before it, and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CLIENT_START = "client_start"
PORTRAITS_DELIVERED = "portraits_delivered"
LOAD_ALLOWANCE = "load_allowance"
CLOCK_RULES = (CLIENT_START, PORTRAITS_DELIVERED, LOAD_ALLOWANCE)


@dataclass(frozen=True)
class ClockStart:
    at: datetime
    rule: str  # one of CLOCK_RULES


def _ms(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)


def latest_start(
    *, served_at: datetime, load_allowance_ms: int, portraits_delivered_at: datetime | None, transfer_allowance_ms: int
) -> ClockStart:
    """The latest the clock can start, whatever the page does: served plus the load allowance, or the last
    portrait's delivery plus the transfer allowance, whichever is earlier."""
    start = ClockStart(served_at + _ms(load_allowance_ms), LOAD_ALLOWANCE)
    if portraits_delivered_at is not None:
        delivered = portraits_delivered_at + _ms(transfer_allowance_ms)
        if delivered < start.at:
            start = ClockStart(delivered, PORTRAITS_DELIVERED)
    return start


def start_on_report(latest: ClockStart, reported_at: datetime) -> ClockStart:
    """The clock's start once the page reports the reveal at `reported_at`: that moment, unless the
    latest start came first."""
    return ClockStart(reported_at, CLIENT_START) if reported_at < latest.at else latest


def deadline(start: datetime, time_limit_ms: int) -> datetime:
    return start + _ms(time_limit_ms)


def is_overdue(*, deadline_at: datetime, grace_ms: int, now: datetime) -> bool:
    """Past the deadline and the network grace: whatever arrives now is a timeout."""
    return now > deadline_at + _ms(grace_ms)


def ms_between(start: datetime, end: datetime) -> int:
    """Whole milliseconds from start to end, never negative."""
    return max(0, round((end - start) / _ms(1)))


def is_armed(*, start: datetime, arming_delay_ms: int, now: datetime) -> bool:
    """Whether an answer arriving now can be meant for this question: its portraits have been shown for
    at least the arming delay."""
    return now - start >= _ms(arming_delay_ms)
