"""Two web hosts that share nothing but PostgreSQL, Redis and an S3-compatible object store.

Each host is its own gunicorn (2 workers) in its own working directory with its own SURVEY_VAR_DIR, as two
machines behind one load balancer would be. Participants send their requests to the hosts in turn (a
load balancer without sticky sessions); one host is killed with SIGKILL mid-run and its requests go to the
other (as the balancer would send them). Checked:

- every session completes, started on one host and continued on the other;
- every portrait is delivered by whichever host is asked, from the object store (no host has a file);
- every portrait of the study is delivered at the same length (the padding, whichever host sends it);
- the invite rate limit is one count in Redis for all hosts and workers, per client address behind the
  proxy (X-Forwarded-For, SURVEY_TRUSTED_PROXIES=1);
- every acknowledged answer is stored exactly once, with the acknowledged outcome; one answer per question.

Needs the services, named by MULTIHOST_REDIS_URL (e.g. redis://127.0.0.1:6390/0) and MULTIHOST_S3_URL
(e.g. http://127.0.0.1:5390, moto's standalone server or MinIO; credentials MULTIHOST_S3_KEY /
MULTIHOST_S3_SECRET, default "test"), and PostgreSQL on 127.0.0.1:5432 (MULTIHOST_PG_ADMIN_URL). `.ci/run`
starts Redis and moto_server and sets them; without them the test is skipped.

Run as a script (`python tests/test_multi_host.py setup|report`), it is the part that runs with the hosts'
shared settings: migrate and build the study (its bank written to the object store), or print what the
database holds.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = "/api/participant"
PARTICIPANTS = 6
PER_CATEGORY = 2
INVITE_RATE = 5  # per minute and client address, for the shared-limit check
BUCKET = "survey-multihost"

pytestmark = [pytest.mark.multihost, pytest.mark.slow]


# --- the hosts' side (a subprocess with the shared settings) -------------------------------------------


def setup_study() -> dict:
    """Migrate, build a study whose bank of rendered phantoms goes to the object store, and a reusable invite."""
    sys.path.insert(0, str(ROOT))
    from survey.models import Invite
    from tools.load.common import bank_rendered, migrate, study_create

    migrate()
    study = study_create("multihost", per_category=PER_CATEGORY, arming_delay_ms=0)
    n = bank_rendered(study, 208)
    invite = Invite.objects.create(study=study, reusable=True, label="multi-host")
    return {"invite": invite.token, "portraits": n}


def report() -> dict:
    from survey.models import Answer, Question, QuizSession, Study

    study = Study.objects.get(slug="multihost")
    answers = Answer.objects.filter(question__session__study=study)
    return {
        "stages": dict(Counter(QuizSession.objects.filter(study=study).values_list("stage", flat=True))),
        "questions": Question.objects.filter(session__study=study).count(),
        "answers": {str(q): [o, c] for q, o, c in answers.values_list("question_id", "outcome", "choice")},
        "answers_per_question": dict(Counter(Counter(answers.values_list("question_id", flat=True)).values())),
        "pad_bytes": study.image_pad_bytes,
        "clock_stamps_ordered": all(
            q.served_at <= q.clock_started_at <= q.answer.answered_at
            for q in Question.objects.filter(session__study=study).select_related("answer")
        ),
    }


if __name__ == "__main__":
    import django

    # Run as a script, tests/ is first on the path, and tests/survey would shadow the survey app.
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

    django.setup()
    command = sys.argv[1]
    print(json.dumps(setup_study() if command == "setup" else report()))
    sys.exit(0)


# --- the services ---------------------------------------------------------------------------------------

REDIS_URL = os.environ.get("MULTIHOST_REDIS_URL", "")
S3_URL = os.environ.get("MULTIHOST_S3_URL", "")
S3_KEY = os.environ.get("MULTIHOST_S3_KEY", "test")
S3_SECRET = os.environ.get("MULTIHOST_S3_SECRET", "test")
PG_ADMIN_URL = os.environ.get("MULTIHOST_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def _services_missing() -> str:
    if not REDIS_URL or not S3_URL:
        return "MULTIHOST_REDIS_URL and MULTIHOST_S3_URL name no Redis and object store (.ci/run starts them)"
    try:
        import psycopg2
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
        psycopg2.connect(PG_ADMIN_URL, connect_timeout=2).close()
    except Exception as error:  # noqa: BLE001  (any failure means: the services are not there)
        return f"a service does not answer: {error}"
    return ""


@pytest.fixture(scope="module")
def services() -> None:
    missing = _services_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture
def shared_environment(services, tmp_path) -> dict[str, str]:
    """What both hosts share: the database, Redis, the object store, the secret. Nothing else."""
    import boto3
    import redis

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("LOAD_PG_ADMIN_URL", PG_ADMIN_URL)
    from tools.load import common

    common.PG_ADMIN_URL = PG_ADMIN_URL
    redis.Redis.from_url(REDIS_URL).flushdb()  # the rate limit's counts start at zero
    s3 = boto3.client(
        "s3", endpoint_url=S3_URL, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET, region_name="us-east-1"
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET in existing:
        for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    else:
        s3.create_bucket(Bucket=BUCKET)
    with common.throwaway_database("survey_multihost") as database_url:
        yield {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_LOG_LEVEL": "ERROR",
            "DATABASE_URL": database_url,
            "SURVEY_CACHE_URL": REDIS_URL,
            "SURVEY_IMAGE_BANK_BUCKET": BUCKET,
            "SURVEY_IMAGE_BANK_ENDPOINT_URL": S3_URL,
            "SURVEY_IMAGE_BANK_REGION": "us-east-1",
            "SURVEY_IMAGE_BANK_ADDRESSING": "path",
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "SURVEY_IMAGE_SIZE": "64",  # quick to render; the pipeline is the same
            "SURVEY_TRUSTED_PROXIES": "1",  # the test plays the proxy: it appends each client's address
            "SURVEY_INVITE_RATE": f"{INVITE_RATE}/minute",
        }


def in_study(environment: dict[str, str], command: str, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SURVEY_", "DATABASE_"))}
    (workdir / "var").mkdir(parents=True, exist_ok=True)
    env.update(environment, PYTHONPATH=str(ROOT), SURVEY_VAR_DIR=str(workdir / "var"))
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- two hosts --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Host:
    """One web host: its own working directory, var directory and gunicorn; the shared environment only."""

    def __init__(self, name: str, folder: Path, environment: dict[str, str]):
        self.name, self.port = name, free_port()
        self.workdir = folder / f"host-{name}"
        self.var = self.workdir / "var"
        (self.var / "static").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SURVEY_", "DATABASE_"))}
        env.update(
            environment,
            SURVEY_VAR_DIR=str(self.var),
            DJANGO_STATIC_ROOT=str(self.var / "static"),
            SURVEY_IMAGE_BANK_ROOT=str(self.var / "image-bank"),
        )
        self.error_log = self.workdir / "error.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--pythonpath",
                str(ROOT),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--timeout",
                "60",
                "--error-logfile",
                str(self.error_log),
                "--log-level",
                "warning",
            ],
            cwd=self.workdir,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.alive = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 90) -> None:
        import requests

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.error_log.read_text()[-3000:]
            try:
                if requests.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise AssertionError(f"host {self.name} did not come up: {self.error_log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a machine that goes away."""
        self.alive = False
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class Balancer:
    """Sends each request to the next host in turn; a host that does not answer gets no more (a health check
    would take it out), and the request goes to the other. Counts what each host served."""

    def __init__(self, hosts: list[Host]):
        import requests

        self.hosts, self.turn, self.lock = hosts, 0, threading.Lock()
        self.served: Counter = Counter()
        self.image_lengths: Counter = Counter()
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=PARTICIPANTS * 4)
        self.http.mount("http://", adapter)

    def _next(self) -> Host:
        with self.lock:
            for _ in range(len(self.hosts)):
                host = self.hosts[self.turn % len(self.hosts)]
                self.turn += 1
                if host.alive:
                    return host
        raise AssertionError("no host is alive")

    def send(
        self, method: str, path: str, *, client: str, token: str | None = None, body: dict | None = None, what: str = ""
    ):
        import requests

        headers = {"X-Forwarded-For": client}  # as the proxy appends it
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(8):
            host = self._next()
            try:
                response = self.http.request(method, host.base + path, json=body, headers=headers, timeout=30)
            except requests.ConnectionError:
                host.alive = False  # killed: the balancer's health check takes it out
                continue
            except requests.exceptions.ChunkedEncodingError:
                continue  # the host died while sending: the response is lost, the request goes again
            if response.status_code >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            with self.lock:
                self.served[(host.name, what)] += 1
                if what == "image" and response.status_code == 200:
                    self.image_lengths[len(response.content)] += 1
            return response
        raise AssertionError(f"{method} {path} failed on every host")


def take_part(balancer: Balancer, invite: str, index: int, acks: dict, kill_switch: threading.Event) -> str:
    """One expert, request after request alternating between the hosts. Returns the session's final stage."""
    client = f"203.0.113.{index + 10}"
    started = balancer.send(
        "POST",
        f"{API}/sessions/",
        client=client,
        what="start",
        body={
            "invite": invite,
            "consent": True,
            "profession": "clinical_geneticist",
            "years_experience": 4,
            "participant_id": f"expert-{index}",
        },
    )
    assert started.status_code == 201, started.text
    token = started.json()["token"]
    assert balancer.send("POST", f"{API}/session/begin/", client=client, token=token, what="begin").status_code == 200
    while True:
        current = balancer.send("GET", f"{API}/question/", client=client, token=token, what="question")
        if current.status_code == 204:
            break
        assert current.status_code == 200, current.text
        question = current.json()
        urls = question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]
        for url in urls:
            image = balancer.send("GET", url, client=client, token=token, what="image")
            assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg", image.status_code
        started = balancer.send(
            "POST", f"{API}/questions/{question['id']}/start/", client=client, token=token, what="clock start"
        )
        assert started.status_code == 200, started.text
        choice = question["options"][index % len(question["options"])]["code"]
        answered = balancer.send(
            "POST",
            f"{API}/questions/{question['id']}/answer/",
            client=client,
            token=token,
            body={"choice": choice},
            what="answer",
        )
        body = answered.json()
        assert answered.status_code == 200 or body.get("error") == "already_answered", answered.text
        if not question["practice"]:
            acks[question["id"]] = (body["outcome"], choice)
        if len(acks) >= PARTICIPANTS * 3 * PER_CATEGORY // 2:
            kill_switch.set()
    state = balancer.send("GET", f"{API}/session/", client=client, token=token, what="state")
    return state.json()["stage"]


def test_two_hosts_share_only_the_database_redis_and_the_object_store(shared_environment, tmp_path):
    setup = in_study(shared_environment, "setup", tmp_path / "setup")
    assert setup["portraits"] == 208
    hosts = [Host("A", tmp_path, shared_environment), Host("B", tmp_path, shared_environment)]
    try:
        for host in hosts:
            host.wait_ready()
        balancer = Balancer(hosts)

        # The rate limit is one count for every host and worker: 2 x INVITE_RATE tries from one address,
        # alternating hosts (4 workers in all), let exactly INVITE_RATE through.
        tries = [
            balancer.send(
                "POST", f"{API}/sessions/", client="198.51.100.66", what="guess", body={"invite": f"guess-{i}"}
            ).status_code
            for i in range(2 * INVITE_RATE)
        ]
        assert tries.count(400) == INVITE_RATE and tries.count(429) == INVITE_RATE, tries
        assert balancer.served[("A", "guess")] == balancer.served[("B", "guess")] == INVITE_RATE

        acks: dict[int, tuple[str, str]] = {}
        kill_switch, run_over, killed_at = threading.Event(), threading.Event(), []

        def kill_b_mid_run() -> None:
            kill_switch.wait(600)
            if not run_over.is_set():
                killed_at.append(len(acks))
                hosts[1].kill()

        killer = threading.Thread(target=kill_b_mid_run)
        killer.start()
        try:
            with ThreadPoolExecutor(PARTICIPANTS) as pool:
                stages = list(
                    pool.map(lambda i: take_part(balancer, setup["invite"], i, acks, kill_switch), range(PARTICIPANTS))
                )
        finally:
            run_over.set()
            kill_switch.set()
            killer.join()
    finally:
        for host in hosts:
            host.stop()

    assert killed_at and 0 < killed_at[0] < PARTICIPANTS * 3 * PER_CATEGORY  # B went away mid-run
    assert stages == ["finished"] * PARTICIPANTS  # every session finished, across both hosts
    for what in ("question", "image", "answer"):
        assert balancer.served[("A", what)] > 0 and balancer.served[("B", what)] > 0, balancer.served
    # Neither host holds a portrait file: each one served came from the object store.
    for host in hosts:
        assert not (host.var / "image-bank").exists() or not any((host.var / "image-bank").rglob("*.jpg"))

    stored = in_study(shared_environment, "report", tmp_path / "setup")
    assert stored["stages"] == {"finished": PARTICIPANTS}
    assert stored["answers_per_question"] == {"1": stored["questions"]}  # one answer for every question
    assert len(acks) == PARTICIPANTS * 3 * PER_CATEGORY
    for question_id, (outcome, choice) in acks.items():  # each acknowledged answer, stored as acknowledged
        assert stored["answers"][str(question_id)] == [outcome, choice if outcome == "answered" else ""]
    assert stored["clock_stamps_ordered"]
    # Every portrait went out at the study's one length, whichever host sent it.
    assert set(balancer.image_lengths) == {stored["pad_bytes"]}, balancer.image_lengths
