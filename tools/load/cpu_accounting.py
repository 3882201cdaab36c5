"""CPU accounting from /proc for a load run: what its gunicorn workers and PostgreSQL backends used
(snapshots, and CpuTracker, which samples through the run so that processes ending or starting mid-run
are counted), the whole machine's busy and steal time, and the CPU of one GET /healthz measured alone,
the unit a question's CPU is compared with. (cpu.py beside it is a script: the same figure in one
process, without a server.)
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import aiohttp

from tools.load.servers import Instance


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat: other people's jobs on a
    shared machine show up as busy time that none of this run's processes used."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to `database`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and f" {database} " in title:
                found.append(int(entry.name))
    return found


def cpu_snapshot(instances: list[Instance], database: str) -> dict[int, tuple[str, float]]:
    """pid -> (what, CPU seconds) for every gunicorn worker and PostgreSQL backend of the run."""
    snapshot = {pid: ("gunicorn", cpu_seconds(pid)) for i in instances for pid in i.workers()}
    snapshot.update({pid: ("postgres", cpu_seconds(pid)) for pid in postgres_backends(database)})
    return snapshot


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> Counter:
    """CPU seconds used between two snapshots, by kind (processes gone by the second are not counted)."""
    used: Counter = Counter()
    for pid, (what, seconds) in after.items():
        used[what] += seconds - before.get(pid, (what, 0.0))[1]
    return used


class CpuTracker:
    """CPU of the run's gunicorn workers and PostgreSQL backends, sampled every `period` seconds: a process
    that ends mid-run (the killed worker, its database backend, a backend whose connection was recycled)
    still counts up to its last sample, and one that starts mid-run (the respawned worker) counts from 0."""

    def __init__(self, instances: list[Instance], database: str):
        self.instances, self.database = instances, database
        self.start = cpu_snapshot(instances, database)
        self.last = dict(self.start)

    def sample(self) -> None:
        self.last.update(cpu_snapshot(self.instances, self.database))

    def used(self) -> Counter:
        self.sample()
        return cpu_used(self.start, self.last)

    async def follow(self, stop: asyncio.Event, period: float = 0.5) -> None:
        while not stop.is_set():
            self.sample()
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                pass


async def healthz_cpu(instances: list[Instance], database: str, requests: int) -> dict[str, float]:
    """CPU seconds per GET /healthz (workers, PostgreSQL backends), measured alone after the run, 4 at a time:
    the unit the per-question figure is compared with, so the ratio does not depend on the machine."""
    tracker = CpuTracker(instances, database)
    async with aiohttp.ClientSession() as client:

        async def hit(i: int) -> None:
            async with client.get(instances[i % len(instances)].base + "/healthz") as response:
                await response.read()

        for first in range(0, requests, 4):
            await asyncio.gather(*(hit(i) for i in range(first, min(first + 4, requests))))
    used = tracker.used()
    return {what: used[what] / requests for what in ("gunicorn", "postgres")}
