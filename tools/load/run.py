"""Load run: N simulated participants through the participant API, against two gunicorn instances that share
one throwaway PostgreSQL database, with one gunicorn worker killed by SIGKILL mid-run. Afterwards every
answer the server acknowledged is looked up in the tidy export.

    .venv/bin/python tools/load/run.py --participants 200

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; LOAD_PG_ADMIN_URL overrides) and the dev
requirements (aiohttp). Takes about 5 minutes at 200 participants on 2 cores. In one command it:
  1. creates a throwaway database, migrates it, builds a study with a rendered bank (~20 s);
  2. starts two gunicorn instances of config.wsgi:application on two loopback ports (--workers, --threads);
  3. drives --participants simulated participants concurrently (clients spread over both instances):
     invite -> session -> begin -> per question (practice included): current question, its images, clock start,
     then answer / skip / wait out the limit and expire; retrying on connection errors and 5xx as a
     browser would (a retried answer whose first response was lost gets 409 already_answered with the
     first outcome: that counts as acknowledged once);
  4. kills one worker of the first instance with SIGKILL once --kill-at of the expected answers are in;
  5. checks every acknowledged answer is in the export exactly once with the acknowledged outcome, and
     attributes every 5xx and connection error;
  6. prints p50/p95/p99 latency per request kind beside GET /healthz (one COUNT query) sampled throughout
     the same run;
  7. runs tools/load/queries.py (SQL queries per request for banks of 100 and 100,000 portraits);
then prints PASS/FAIL per target. Exit status 0 only when every target passes. Processes and the database
are removed at the end whatever happens. Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp

from tools.load.common import (
    REPO,
    bank_rendered,
    django_environment,
    django_setup,
    migrate,
    study_create,
    throwaway_database,
)

PER_CATEGORY = 10  # the paper's 10 questions per category: 30 timed questions per participant
ACCESS_LOG_FORMAT = '%(p)s %({x-load-request}i)s %(s)s %(M)s "%(r)s"'  # pid, our request id, status, ms
MAX_ATTEMPTS = 8  # a patient browser: reloads with backoff for ~30 s before giving up
ANSWER_LABELS = ("answer", "skip", "expire")


# --- gunicorn instances ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live child processes of `pid` (a gunicorn master's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces; fields after ')' do not
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


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


def established_socket_inodes(port: int) -> set[str]:
    """Socket inodes of TCP connections to 127.0.0.1:`port` that are established (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    return inodes


def sockets(pid: int) -> set[str]:
    """Inodes of the sockets a process holds."""
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                found.add(target[8:-1])
    except OSError:
        pass
    return found


def mid_request(pids: list[int], port: int) -> list[int]:
    """Workers holding the same client connection in two looks 5 ms apart: in the middle of a request,
    not between sending a response and closing the socket. A sync worker's other sockets (the listening
    one, its database connection) are told apart once, through /proc/net/tcp, which is slow to read with
    thousands of closed connections in TIME_WAIT; the two looks then read only the workers' fds."""
    clients_now = established_socket_inodes(port)
    steady = {pid: sockets(pid) - clients_now for pid in pids}
    first = {pid: sockets(pid) - steady[pid] for pid in pids}
    time.sleep(0.005)
    return [pid for pid in pids if first[pid] & (sockets(pid) - steady[pid])]


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen
    access_log: Path
    error_log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        return children(self.process.pid)


def instance_start(name: str, folder: Path, environment: dict[str, str], workers: int, threads: int) -> Instance:
    port = free_port()
    access_log, error_log = folder / f"{name}-access.log", folder / f"{name}-error.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--error-logfile",
        str(error_log),
        "--log-level",
        "warning",
        "--timeout",
        "60",
    ]
    # Own process group: the cleanup can end the master and its workers together, and nothing else.
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **environment},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Instance(name, port, process, access_log, error_log)


async def wait_ready(instance: Instance, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if instance.process.poll() is not None:
                raise RuntimeError(f"gunicorn {instance.name} exited: see {instance.error_log}")
            try:
                async with client.get(instance.base + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"gunicorn {instance.name} did not answer /healthz within {timeout_s} s")


def instance_stop(instance: Instance) -> None:
    """SIGTERM the master (it stops its workers), then SIGKILL what is left of its process group."""
    if instance.process.poll() is None:
        instance.process.send_signal(signal.SIGTERM)
        try:
            instance.process.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(instance.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    instance.process.wait()


def access_log_entries(instance: Instance) -> dict[str, tuple[int, int]]:
    """request id -> (worker pid, status) for every request a worker finished and logged."""
    entries = {}
    for line in instance.access_log.read_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) >= 4 and parts[1] != "-":
            entries[parts[1]] = (int(parts[0].strip("<>")), int(parts[2]))
    return entries


# --- the simulated participants -------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP request as sent; a retry is a new attempt."""

    label: str
    instance: str
    request_id: str
    started: float  # seconds since the run began
    ended: float
    status: int | None  # None: no response (connection error or client timeout)
    error: str = ""

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class Ack:
    outcome: str
    choice: str | None  # what the participant sent (None for a skip or an expire)
    via: str  # "200", or "409" when a retry found the first outcome already recorded
    intent: str = ""  # what the participant did: answered, skipped or timeout (let the time run out)


@dataclass
class Reply:
    status: int
    body: dict | list | None


class GaveUp(Exception):
    pass


@dataclass
class Run:
    args: argparse.Namespace
    instances: list[Instance]
    invite: str
    client: aiohttp.ClientSession
    began: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    acks: dict[int, Ack] = field(default_factory=dict)
    ack_conflicts: list[str] = field(default_factory=list)
    anomalies: Counter = field(default_factory=Counter)
    active: int = 0
    peak_active: int = 0
    finished: int = 0
    gave_up: list[str] = field(default_factory=list)
    sessions_started: int = 0
    kill: dict = field(default_factory=dict)
    wall: float = 0.0
    in_flight: Counter = field(default_factory=Counter)  # requests awaiting a response, by instance
    cpu: Counter = field(default_factory=Counter)
    healthz_cpu: dict[str, float] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=itertools.count)

    def now(self) -> float:
        return time.monotonic() - self.began

    async def call(
        self,
        instance: Instance,
        method: str,
        path: str,
        label: str,
        *,
        token: str | None = None,
        json: dict | None = None,
    ) -> Reply:
        """One browser request: retried with backoff on a lost response or a 5xx, like a reload."""
        for attempt in range(MAX_ATTEMPTS):
            request_id = f"r{next(self.ids)}"
            headers = {"X-Load-Request": request_id}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            started = self.now()
            self.in_flight[instance.name] += 1
            try:
                async with self.client.request(method, instance.base + path, json=json, headers=headers) as response:
                    raw = await response.read()
                    status = response.status
                    is_json = response.content_type == "application/json"
            except (TimeoutError, aiohttp.ClientError) as error:
                self.in_flight[instance.name] -= 1
                self.attempts.append(
                    Attempt(label, instance.name, request_id, started, self.now(), None, type(error).__name__)
                )
            else:
                self.in_flight[instance.name] -= 1
                self.attempts.append(Attempt(label, instance.name, request_id, started, self.now(), status))
                if status < 500:
                    return Reply(status, _json(raw) if is_json and raw else None)
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.5))
        raise GaveUp(f"{method} {path} failed {MAX_ATTEMPTS} times")

    def acknowledge(self, question_id: int, reply: Reply, choice: str | None, intent: str) -> None:
        """Note an outcome the server acknowledged: 200, or 409 already_answered carrying the first outcome."""
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 200:
            ack = Ack(body["outcome"], choice, "200", intent)
        elif reply.status == 409 and body.get("error") == "already_answered":
            ack = Ack(body["outcome"], choice, "409", intent)
        else:
            self.anomalies[f"answer refused: {reply.status} {body.get('error', '')}"] += 1
            return
        earlier = self.acks.get(question_id)
        if earlier is not None and earlier.outcome != ack.outcome:
            self.ack_conflicts.append(f"question {question_id}: {earlier.outcome} then {ack.outcome}")
        self.acks.setdefault(question_id, ack)


def _json(raw: bytes):
    import json

    return json.loads(raw)


async def fetch_images(run: Run, instance: Instance, token: str, question: dict) -> None:
    """The page preloads every portrait of the question together (a browser opens up to 6 at once)."""
    urls = question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]
    replies = await asyncio.gather(*(run.call(instance, "GET", url, "image", token=token) for url in urls))
    if any(r.status != 200 for r in replies):
        run.anomalies["image not 200"] += 1


async def session_start(run: Run, instance: Instance, index: int) -> str:
    reply = await run.call(
        instance,
        "POST",
        "/api/participant/sessions/",
        "session start",
        json={
            "invite": run.invite,
            "consent": True,
            "profession": "clinical_geneticist",
            "years_experience": random.randint(1, 30),
            "participant_id": f"load-participant-{index}",
        },
    )
    if reply.status not in (200, 201):
        raise GaveUp(f"session start answered {reply.status}: {reply.body}")
    run.sessions_started += 1
    return reply.body["token"]


async def answer_question(run: Run, instance: Instance, token: str, question: dict) -> None:
    """Start the clock once the images are in, think, then answer, skip, or let the time run out."""
    qid = question["id"]
    # Practice answers are never exported, so they are not checked against the export either.
    acknowledge = (lambda *_: None) if question["practice"] else run.acknowledge
    started = await run.call(instance, "POST", f"/api/participant/questions/{qid}/start/", "clock start", token=token)
    if started.status != 200:
        run.anomalies[f"clock start {started.status}"] += 1
        return
    remaining_s = started.body["remaining_ms"] / 1000
    roll = random.random()
    if roll < run.args.timeout_share:
        await asyncio.sleep(remaining_s + 0.05)
        while True:
            reply = await run.call(instance, "POST", f"/api/participant/questions/{qid}/expire/", "expire", token=token)
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.status == 409 and body.get("error") == "not_expired":  # our clock ran ahead of the server's
                await asyncio.sleep(body["remaining_ms"] / 1000 + 0.05)
                continue
            acknowledge(qid, reply, None, "timeout")
            return
    # The question accepts answers once its portraits have been shown for the arming delay.
    await asyncio.sleep(max(random.uniform(*run.args.think), question["arming_delay_ms"] / 1000))
    if roll < run.args.timeout_share + run.args.skip_share:
        reply = await run.call(instance, "POST", f"/api/participant/questions/{qid}/skip/", "skip", token=token)
        acknowledge(qid, reply, None, "skipped")
    else:
        choice = random.choice(question["options"])["code"]
        reply = await run.call(
            instance,
            "POST",
            f"/api/participant/questions/{qid}/answer/",
            "answer",
            token=token,
            json={"choice": choice},
        )
        acknowledge(qid, reply, choice, "answered")


async def participant(run: Run, index: int) -> None:
    instance = run.instances[index % len(run.instances)]  # clients spread over both instances
    await asyncio.sleep(run.args.ramp * index / run.args.participants)
    active = False
    try:
        token = await session_start(run, instance, index)
        active = True
        run.active += 1
        run.peak_active = max(run.peak_active, run.active)
        begun = await run.call(instance, "POST", "/api/participant/session/begin/", "begin", token=token)
        if begun.status not in (200, 409):  # 409: a retried begin whose first response was lost
            raise GaveUp(f"begin answered {begun.status}")
        while True:
            current = await run.call(instance, "GET", "/api/participant/question/", "current question", token=token)
            if current.status == 204:
                break
            if current.status != 200:
                raise GaveUp(f"current question answered {current.status}: {current.body}")
            await fetch_images(run, instance, token, current.body)
            await answer_question(run, instance, token, current.body)
        run.finished += 1
    except GaveUp as error:
        run.gave_up.append(f"participant {index}: {error}")
    finally:
        run.active -= active


async def healthz_probe(run: Run, stop: asyncio.Event) -> None:
    """The baseline: GET /healthz at a fixed rate through the whole run, alternating instances. Each probe
    is its own task, so a slow one does not thin out the samples."""
    tasks = set()
    for i in itertools.count():
        if stop.is_set():
            break
        task = asyncio.create_task(run.call(run.instances[i % len(run.instances)], "GET", "/healthz", "healthz"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        try:
            await asyncio.wait_for(stop.wait(), 1 / run.args.healthz_rate)
        except TimeoutError:
            pass
    await asyncio.gather(*tasks, return_exceptions=True)


async def killer(run: Run, expected_answers: int) -> None:
    """SIGKILL one worker of the first instance once the given share of answers is in; its master respawns it."""
    while len(run.acks) < run.args.kill_at * expected_answers:
        await asyncio.sleep(0.05)
    instance = run.instances[0]
    before = instance.workers()
    # Aim at a worker in the middle of a request, so the kill loses a response (look for up to 5 s).
    victim, busy = random.choice(before), False
    looking_until = time.monotonic() + 5
    while time.monotonic() < looking_until and not busy:
        candidates = mid_request(before, instance.port)
        if candidates:
            victim, busy = random.choice(candidates), True
        else:
            await asyncio.sleep(0.002)
    os.kill(victim, signal.SIGKILL)
    run.kill = {
        "instance": instance.name,
        "pid": victim,
        "at": run.now(),
        "acks": len(run.acks),
        "busy": busy,
        "in_flight": run.in_flight[instance.name],
    }
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now_workers = set(instance.workers())
        if victim not in now_workers and len(now_workers) >= len(before):
            run.kill["respawned_as"] = sorted(now_workers - set(before))
            run.kill["respawn_s"] = run.now() - run.kill["at"]
            return
        await asyncio.sleep(0.1)


async def warm_up(instances: list[Instance], per_instance: int) -> None:
    """Each worker loads the URLconf, DRF and its database connection on its first requests; a deployment
    that has run for a minute has done so, so this is kept out of the measurement (a respawned worker's
    cold start after the kill is not: it is part of the run)."""
    async with aiohttp.ClientSession() as client:

        async def hit(url: str) -> None:
            async with client.get(url) as response:
                await response.read()

        for _ in range(3):
            await asyncio.gather(
                *(
                    hit(instance.base + path)
                    for instance in instances
                    for _ in range(per_instance)
                    for path in ("/healthz", "/api/participant/question/")
                )
            )


async def drive(args: argparse.Namespace, instances: list[Instance], invite: str) -> Run:
    for instance in instances:
        await wait_ready(instance)
    await warm_up(instances, args.workers * args.threads * 2)
    cpu = CpuTracker(instances, args.database)
    machine_before = machine_cpu_seconds()
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    # Each simulated browser opens what it needs. Idle connections are dropped after 1 s, before gunicorn's
    # 2 s keep-alive closes them: otherwise a request can go out on a socket the server is closing.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
        # aiohttp silently resends a GET once when the server drops the connection; this tool does its own
        # browser-like retries so that every lost response is counted and attributed. (No public switch.)
        if hasattr(client, "_retry_connection"):
            client._retry_connection = False
        run = Run(args, instances, invite, client)
        stop = asyncio.Event()
        probe = asyncio.create_task(healthz_probe(run, stop))
        sampler = asyncio.create_task(cpu.follow(stop))
        kill = asyncio.create_task(killer(run, args.participants * 3 * PER_CATEGORY))
        people = [asyncio.create_task(participant(run, i)) for i in range(args.participants)]
        done, pending = await asyncio.wait(people, timeout=args.max_seconds)
        for task in pending:
            task.cancel()
            run.gave_up.append("participant still running at --max-seconds")
        stop.set()
        await probe
        if not kill.done():
            kill.cancel()
            run.anomalies["no worker killed: run ended before --kill-at"] += 1
        run.wall = run.now()
        await sampler
        run.cpu = cpu.used()
        machine_after = machine_cpu_seconds()
        run.cpu["machine"] = machine_after[0] - machine_before[0]
        run.cpu["steal"] = machine_after[1] - machine_before[1]
    run.healthz_cpu = await healthz_cpu(instances, args.database, args.healthz_cpu_requests)
    return run


# --- afterwards -----------------------------------------------------------------------------------------


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


def run_queries() -> bool:
    print("\n== SQL queries per request (tools/load/queries.py, its own throwaway database)", flush=True)
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("queries.py"))], cwd=REPO)
    return result.returncode == 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    # Sync workers, 3 per instance as the Dockerfile runs them: on 2 cores they served more requests per
    # second than 2 x 4 gthread threads (GIL contention) in trial runs.
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread; 1 = sync workers)")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE for the servers")
    parser.add_argument("--bank", type=int, default=208, help="rendered portraits in the study's bank")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which participants arrive")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(0.5, 2.5),
        metavar=("MIN", "MAX"),
        help="seconds a participant looks before answering or skipping",
    )
    parser.add_argument(
        "--time-limit-ms", type=int, default=4000, help="every category's limit (short: quick timeouts)"
    )
    parser.add_argument("--timeout-share", type=float, default=0.1, help="share of questions left to time out")
    parser.add_argument("--skip-share", type=float, default=0.1, help="share of questions skipped")
    parser.add_argument("--kill-at", type=float, default=0.4, help="SIGKILL a worker when this share of answers is in")
    parser.add_argument("--healthz-rate", type=float, default=10.0, help="baseline probes per second")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="client gives up on a response after (s)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop the run after this long")
    parser.add_argument(
        "--healthz-cpu-requests",
        type=int,
        default=400,
        help="GET /healthz requests after the run that measure one's CPU (the unit of comparison)",
    )
    parser.add_argument("--skip-queries", action="store_true", help="do not run tools/load/queries.py")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated participants' choices")
    args = parser.parse_args(argv)
    random.seed(args.seed)

    instances: list[Instance] = []
    with (
        tempfile.TemporaryDirectory(prefix="survey-load-") as folder_name,
        throwaway_database("survey_load") as database_url,
    ):
        folder = Path(folder_name)
        try:
            environment = django_environment(database_url, folder, conn_max_age=args.conn_max_age)
            args.database = database_url.rsplit("/", 1)[1]
            django_setup(environment)
            from django.db import connections

            from survey.models import Invite

            print(f"== setup: throwaway database {database_url.rsplit('/', 1)[1]}", flush=True)
            print(f"migrated in {migrate():.1f} s", flush=True)
            started = time.perf_counter()
            study = study_create(
                "load",
                per_category=PER_CATEGORY,
                time_limit_ms=args.time_limit_ms,
                grace_ms=1000,
                load_allowance_ms=3000,
            )
            n_bank = bank_rendered(study, args.bank)
            invite = Invite.objects.create(study=study, reusable=True, label="load run").token
            print(
                f"study 'load': {n_bank} rendered portraits, {3 * PER_CATEGORY} timed questions per participant, "
                f"limit {args.time_limit_ms} ms, grace 1000 ms ({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            connections.close_all()  # the servers get the database to themselves

            instances = [instance_start(name, folder, environment, args.workers, args.threads) for name in ("A", "B")]
            kind = f"gthread, {args.threads} threads" if args.threads > 1 else "sync"
            print(
                f"\n== servers: 2 gunicorn instances x {args.workers} workers ({kind}), "
                f"DATABASE_CONN_MAX_AGE={args.conn_max_age}, on {os.cpu_count()} CPU cores",
                flush=True,
            )
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            run = asyncio.run(drive(args, instances, invite))
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            for instance in instances:
                print(
                    f"{instance.name}: {instance.base} master {instance.process.pid}, workers now {instance.workers()}"
                )

            print(
                f"\n== run: {args.participants} participants (ramp {args.ramp:.0f} s, think {args.think[0]}-"
                f"{args.think[1]} s, ~{args.timeout_share:.0%} left to time out, ~{args.skip_share:.0%} skipped)"
            )
            client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
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

            print("\n== latency (successful requests; healthz sampled throughout the same run)")
            stats = latency_table(run)

            print("\n== errors")
            _, unexplained = attribute_failures(run)

            print("\n== answers against the tidy export (survey.export.answers_frame)")
            verdict = verify(run, "load")
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
        finally:
            for instance in instances:
                instance_stop(instance)
    queries_ok = None if args.skip_queries else run_queries()
    return 0 if report_targets(args, run, stats, verdict, unexplained, queries_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
