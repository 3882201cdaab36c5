"""Nothing lost on the embedded default: 20 participants answering at the same instant, each with a double
click, plus parallel (and double) session starts, against a study served by gunicorn with 3 workers.

Real processes and a real database file: SQLite's locking is between connections of different processes,
which the test client cannot show. The database is whatever DATABASE_URL of the test run names: a fresh
SQLite file by default, a fresh PostgreSQL database when the run is on PostgreSQL.

Every answer the server acknowledged (2xx) must be in the database, no request may get a 5xx, each question
has exactly one answer and each single-use invite exactly one session.

Run as a script (`python tests/survey/test_embedded_database.py setup|report N`), it is the part that runs in
the served study's own environment: migrate and build the study, or print what the database holds.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS = 20
PROFILE = {"consent": True, "profession": "clinical_geneticist", "years_experience": 5}
ARMING_WAIT_S = 0.6  # a question accepts answers ~400 ms after its clock starts
API = "/api/participant"

pytestmark = pytest.mark.slow


# --- the served study's side (runs in a subprocess, with the study's own settings) ---------------------


def setup_study(invites: int) -> list[str]:
    """Migrate, build a small study over a bank of bare portrait rows, and make single-use invites."""
    from django.core.management import call_command

    from tests.survey.factories import DisorderFactory, InviteFactory, StudyFactory, make_bank

    call_command("migrate", verbosity=0, interactive=False)
    disorders = [DisorderFactory(code=f"phx{i}") for i in range(8)]
    study = StudyFactory(disorders=disorders, n_real_vs_synthetic=2, n_reidentification=2, n_diagnosis=2)
    make_bank(study, disorders, training=12, held_out=12, synthetic=12)
    return [InviteFactory(study=study).token for _ in range(invites)]


def report() -> dict:
    """Sessions per invite, and every answer of a timed question with its session's token."""
    from survey.models import Answer, QuizSession

    sessions = Counter(QuizSession.objects.values_list("invite__token", flat=True))
    answers = [
        {"token": token, "question": question, "outcome": outcome, "choice": choice}
        for token, question, outcome, choice in Answer.objects.filter(question__is_practice=False).values_list(
            "question__session__access_token", "question_id", "outcome", "choice"
        )
    ]
    return {"sessions_per_invite": dict(sessions), "answers": answers}


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    command = argv[1]
    result = setup_study(int(argv[2])) if command == "setup" else report()
    print(json.dumps(result))


# --- the test's side -----------------------------------------------------------------------------------


def engine_of_this_run() -> str:
    from django.conf import settings

    return "postgresql" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "sqlite"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_admin():
    import psycopg2
    from django.conf import settings

    db = settings.DATABASES["default"]
    connection = psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
    )
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection, db


@pytest.fixture
def database_url(tmp_path) -> Iterator[str]:
    """A fresh database of this run's engine for the served study."""
    if engine_of_this_run() == "sqlite":
        yield f"sqlite:///{tmp_path / 'study.sqlite3'}"
        return
    admin, db = postgres_admin()
    name = f"survey_embedded_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    user = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    try:
        yield f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def environment(database_url, tmp_path) -> dict[str, str]:
    var = tmp_path / "var"
    (var / "static").mkdir(parents=True)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "1",
        "DJANGO_LOG_LEVEL": "ERROR",
        "SURVEY_VAR_DIR": str(var),
        "SURVEY_IMAGE_BANK_ROOT": str(var / "image-bank"),
        "DJANGO_STATIC_ROOT": str(var / "static"),
        "SURVEY_INVITE_RATE": "100000/minute",  # every participant comes from 127.0.0.1
    }


def in_study(environment: dict[str, str], *args: str) -> object:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def served(environment, tmp_path) -> Iterator[tuple[str, list[str], Callable[[], dict], Path]]:
    """(base URL, invite tokens, a function reading the database's state, gunicorn's error log)."""
    invites = in_study(environment, "setup", str(PARTICIPANTS))
    port, error_log = free_port(), tmp_path / "gunicorn-error.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        "--timeout",
        "60",
        "--error-logfile",
        str(error_log),
        "--log-level",
        "warning",
    ]
    # Its own process group: the end of the test stops the master and its workers, and nothing else.
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server, error_log)
        yield base, invites, lambda: in_study(environment, "report"), error_log
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()


def wait_until_up(base: str, server: subprocess.Popen, error_log: Path, timeout_s: float = 90) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gunicorn exited: {error_log.read_text()[-3000:]}"
        try:
            # A cold worker's first answer (Django loading) can take seconds on a busy machine: wait, not fail.
            if requests.get(base + "/healthz", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer within {timeout_s} s")


def all_at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run every call in its own thread, released together by a barrier; returns results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except Exception as error:  # noqa: BLE001 - the test inspects what each call got
            results[i] = error

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return results


class Reply:
    """What one request got: its status and JSON body (a connection error counts as a failure too)."""

    def __init__(self, label: str, response) -> None:
        self.label, self.status = label, response.status_code
        try:
            self.body = response.json()
        except ValueError:
            self.body = response.text[:300]

    def __repr__(self) -> str:
        return f"{self.label}: {self.status} {self.body}"


def request(method: str, url: str, label: str, token: str | None = None, **kwargs) -> Callable[[], Reply]:
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return lambda: Reply(label, requests.request(method, url, headers=headers, timeout=60, **kwargs))


def check(replies: list[object], *, allowed: set[int]) -> list[Reply]:
    """No exception, no 5xx, only the expected statuses."""
    failures = [r for r in replies if not isinstance(r, Reply) or r.status >= 500 or r.status not in allowed]
    assert not failures, f"{len(failures)} of {len(replies)} requests failed: {failures[:6]}"
    return replies  # type: ignore[return-value]


def pytest_generate_tests(metafunc):
    """Name the engine under test in the test's id (read when collecting, not when run as a script)."""
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", [engine_of_this_run()])


def test_simultaneous_answers_double_clicks_and_session_starts_lose_nothing(served, engine):
    base, invites, database, error_log = served

    # Every participant consents twice at the same instant (a double click), all 20 together.
    starts = check(
        all_at_once(
            [
                request("POST", f"{base}{API}/sessions/", f"start {i}", json={"invite": invite, **PROFILE})
                for i, invite in enumerate(invites)
                for _ in range(2)
            ]
        ),
        allowed={200, 201, 409, 410},
    )
    tokens = []
    for i in range(PARTICIPANTS):
        pair = [r for r in starts[2 * i : 2 * i + 2] if r.status in (200, 201)]
        assert pair, starts[2 * i : 2 * i + 2]  # at least one of the two clicks starts (or resumes) the session
        assert len({r.body["token"] for r in pair}) == 1, pair  # never two sessions for one single-use link
        tokens.append(pair[0].body["token"])

    check(
        all_at_once(
            [
                request("POST", f"{base}{API}/session/begin/", f"begin {i}", token)
                for i, token in enumerate(tokens)
                for _ in range(2)
            ]
        ),
        allowed={200, 409},
    )
    shown = check(
        all_at_once(
            [
                request("GET", f"{base}{API}/question/", f"question {i}", token)
                for i, token in enumerate(tokens)
                for _ in range(2)
            ]
        ),
        allowed={200},
    )
    questions = []
    for i in range(PARTICIPANTS):
        pair = shown[2 * i : 2 * i + 2]
        assert pair[0].body["id"] == pair[1].body["id"], pair  # a reload serves the same question
        questions.append(pair[0].body)
    check(
        all_at_once(
            [
                request("POST", f"{base}{API}/questions/{q['id']}/start/", f"clock {i}", token)
                for i, (token, q) in enumerate(zip(tokens, questions, strict=True))
                for _ in range(2)
            ]
        ),
        allowed={200},
    )
    time.sleep(ARMING_WAIT_S)

    # The moment under test: 20 answers, each posted twice, all at once.
    choices = [q["options"][0]["code"] for q in questions]
    answers = check(
        all_at_once(
            [
                request(
                    "POST", f"{base}{API}/questions/{q['id']}/answer/", f"answer {i}", token, json={"choice": choice}
                )
                for i, (token, q, choice) in enumerate(zip(tokens, questions, choices, strict=True))
                for _ in range(2)
            ]
        ),
        allowed={200, 409},
    )
    acknowledged = {}
    for i in range(PARTICIPANTS):
        pair = answers[2 * i : 2 * i + 2]
        assert [r.body["outcome"] for r in pair if r.status == 200] in (["answered"], ["answered", "answered"]), pair
        assert all(r.body.get("error") == "already_answered" for r in pair if r.status == 409), pair
        acknowledged[questions[i]["id"]] = (tokens[i], choices[i])

    state = database()
    assert state["sessions_per_invite"] == {invite: 1 for invite in invites}
    stored = Counter(a["question"] for a in state["answers"])
    assert stored == Counter(acknowledged.keys()), "each question answered exactly once"
    for row in state["answers"]:
        assert (row["token"], row["choice"]) == acknowledged[row["question"]] and row["outcome"] == "answered", row
    assert "Traceback" not in error_log.read_text()


if __name__ == "__main__":
    main(sys.argv)
