"""CPU per participant request, one request at a time: the steady figure beside run.py's (which a busy
shared machine makes noisy).

    .venv/bin/python tools/load/cpu.py [--sessions 4] [--server gunicorn]

Creates its own throwaway PostgreSQL database (127.0.0.1:5432, user postgres; LOAD_PG_ADMIN_URL
overrides) with production settings (`config.settings`, debug off, persistent connection), a study of 5
questions per category over 208 rendered phantoms, walks whole sessions through the participant API
(current question, every portrait, clock start, answer) and prints the CPU time per request kind and per
question, beside `/healthz`:

- `--server django` (the default): Django's test client in this process; this process's CPU time, so
  neither a web server's work nor PostgreSQL's is in it.
- `--server gunicorn`: one gunicorn instance with one sync worker, as the Dockerfile runs it (access log
  included), over loopback HTTP, a new connection per request as a proxy opens them; the worker's and its
  PostgreSQL backend's CPU time per request, from the scheduler's nanosecond counters
  (/proc/PID/schedstat), read once the worker is back waiting for the next connection. Requests are sent
  one at a time, so every nanosecond is that request's.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.load.common import bank_rendered, django_environment, django_setup, migrate, study_create, throwaway_database
from tools.load.cpu_accounting import postgres_backends
from tools.load.servers import instance_start, instance_stop, wait_ready

KINDS = ("question", "image", "clock start", "answer")


class Meter:
    """This process's CPU time per request kind (the test client runs the whole request in it)."""

    def __init__(self) -> None:
        self.cpu: Counter = Counter()
        self.postgres: Counter = Counter()
        self.count: Counter = Counter()

    def __call__(self, kind: str, request: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = request()
        self.cpu[kind] += time.process_time() - started
        self.count[kind] += 1
        return result


def _schedstat_seconds(pid: int) -> float:
    """Time the scheduler has run `pid` on a CPU (user and system), in ns resolution; 0 once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _waiting(pid: int) -> bool:
    """Whether `pid` sleeps (a sync worker between requests sleeps in select)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"
    except OSError:
        return True


class WorkerMeter(Meter):
    """A gunicorn worker's and its PostgreSQL backends' CPU per request kind, one request at a time."""

    def __init__(self, worker: int, database: str) -> None:
        super().__init__()
        self.worker, self.database = worker, database

    def _settled(self) -> float:
        # The client has the response before the worker has closed the connection and written its access
        # log line: wait until it sleeps again with its counter unchanged, so that work counts here.
        last = _schedstat_seconds(self.worker)
        while True:
            time.sleep(0.001)
            now = _schedstat_seconds(self.worker)
            if now == last and _waiting(self.worker):
                return now
            last = now

    def _postgres(self) -> dict[int, float]:
        return {pid: _schedstat_seconds(pid) for pid in postgres_backends(self.database)}

    def __call__(self, kind: str, request: Callable[[], Any]) -> Any:
        worker, postgres = self._settled(), self._postgres()
        result = request()
        self.cpu[kind] += self._settled() - worker
        # A backend that started during the request (a connection older than DATABASE_CONN_MAX_AGE is
        # replaced) counts from 0; one that ended during it is lost (once a minute at most).
        self.postgres[kind] += sum(seconds - postgres.get(pid, 0.0) for pid, seconds in self._postgres().items())
        self.count[kind] += 1
        return result


@dataclass
class Reply:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class HttpClient:
    """What `walk` needs of Django's test client, over real HTTP: a new connection per request (a sync
    worker closes each one), extra headers given as Django's `HTTP_...` keywords."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, response.read())
        finally:
            connection.close()

    @staticmethod
    def _headers(extra: dict[str, str]) -> dict[str, str]:
        return {key[5:].replace("_", "-").title(): value for key, value in extra.items() if key.startswith("HTTP_")}

    def get(self, path: str, **extra: str) -> Reply:
        return self._send("GET", path, None, self._headers(extra))

    def post(self, path: str, data: Any = None, content_type: str = "application/json", **extra: str) -> Reply:
        body = json.dumps(data).encode() if data is not None else b""
        return self._send("POST", path, body, {**self._headers(extra), "Content-Type": content_type})


def _body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def walk(client: Any, invite: str, meter: Meter) -> int:
    """One whole session through the API; returns its number of questions (practice included)."""
    started = client.post(
        "/api/participant/sessions/",
        {"invite": invite, "consent": True, "profession": "other", "years_experience": 3},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    auth = {"HTTP_AUTHORIZATION": f"Bearer {started.json()['token']}"}
    client.post("/api/participant/session/begin/", **auth)
    questions = 0
    while True:
        current = meter("question", lambda: client.get("/api/participant/question/", **auth))
        if current.status_code == 204:
            return questions
        question = current.json()
        for url in question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]:
            image = meter("image", lambda url=url: _body(client.get(url, **auth)))
            assert image, url
        meter(
            "clock start",
            lambda question=question: client.post(f"/api/participant/questions/{question['id']}/start/", **auth),
        )
        answered = meter(
            "answer",
            lambda question=question: client.post(
                f"/api/participant/questions/{question['id']}/answer/",
                {"choice": question["options"][0]["code"]},
                content_type="application/json",
                **auth,
            ),
        )
        assert answered.status_code == 200, answered.content
        meter("healthz", lambda: client.get("/healthz"))
        questions += 1


def _walks_in_process(invites: list[str]) -> tuple[Meter, int]:
    from django.test import Client

    walk(Client(), invites[0], Meter())  # warm-up: URLconf, DRF, the connection
    meter = Meter()
    return meter, sum(walk(Client(), invite, meter) for invite in invites[1:])


def _walks_on_gunicorn(invites: list[str], folder: Path, database: str) -> tuple[Meter, int]:
    instance = instance_start("cpu", folder, dict(os.environ), workers=1, threads=1)
    try:
        asyncio.run(wait_ready(instance))
        client = HttpClient(instance.port)
        walk(client, invites[0], Meter())  # warm-up, as in the process
        (worker,) = instance.workers()
        meter = WorkerMeter(worker, database)
        return meter, sum(walk(client, invite, meter) for invite in invites[1:])
    finally:
        instance_stop(instance)


def _report(meter: Meter, questions: int, with_postgres: bool) -> None:
    columns = f"{'request':14}{'n':>6}{'CPU ms each':>14}" + (f"{'PostgreSQL ms':>15}" if with_postgres else "")
    print(columns)
    for kind in (*KINDS, "healthz"):
        row = f"{kind:14}{meter.count[kind]:>6}{1000 * meter.cpu[kind] / meter.count[kind]:>14.2f}"
        print(row + (f"{1000 * meter.postgres[kind] / meter.count[kind]:>15.2f}" if with_postgres else ""))
    images_per_question = meter.count["image"] / questions
    per_question = 1000 * sum(meter.cpu[k] for k in KINDS) / questions
    per_image = 1000 * meter.cpu["image"] / meter.count["image"]
    with_four = per_question + (4 - images_per_question) * per_image
    healthz = 1000 * meter.cpu["healthz"] / meter.count["healthz"]
    print(
        f"per question ({questions} questions, practice included, {images_per_question:.2f} portraits each): "
        f"{per_question:.1f} ms CPU, {per_question / healthz:.1f} x /healthz ({healthz:.2f} ms); "
        f"with 4 portraits {with_four:.1f} ms"
    )
    if with_postgres:
        print(f"PostgreSQL per question: {1000 * sum(meter.postgres[k] for k in KINDS) / questions:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="whole sessions measured (after one warm-up)")
    parser.add_argument("--server", choices=("django", "gunicorn"), default="django", help="see the module's docstring")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="survey-cpu-") as folder, throwaway_database("survey_cpu") as url:
        django_setup({**django_environment(url, Path(folder)), "SURVEY_IMAGE_SIZE": "256"})
        from django.db import connections
        from django.test.utils import setup_test_environment

        from survey.models import Invite

        setup_test_environment()  # the test client's host passes ALLOWED_HOSTS
        try:
            migrate()
            study = study_create("cpu", per_category=5, arming_delay_ms=0)
            bank_rendered(study, 208)
            invites = [Invite.objects.create(study=study).token for _ in range(args.sessions + 1)]
            if args.server == "django":
                meter, questions = _walks_in_process(invites)
            else:
                connections.close_all()  # the worker's backend is then the database's only one
                meter, questions = _walks_on_gunicorn(invites, Path(folder), url.rsplit("/", 1)[1])
        finally:
            connections.close_all()
    _report(meter, questions, with_postgres=args.server == "gunicorn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
