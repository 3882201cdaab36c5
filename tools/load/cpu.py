"""CPU per participant request, in one process, without a server or a load client: the steady figure
beside run.py's (which a busy shared machine makes noisy).

    .venv/bin/python tools/load/cpu.py [--sessions 4]

Creates its own throwaway PostgreSQL database (127.0.0.1:5432, user postgres; LOAD_PG_ADMIN_URL
overrides) with production settings (`config.settings`, debug off, persistent connection), a study of 5
questions per category over 208 rendered phantoms, walks whole sessions through the participant API with
Django's test client (current question, every portrait, clock start, answer) and prints this process's
CPU time per request kind and per question, beside `/healthz`. PostgreSQL's own CPU is not in it
(run.py measures that). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.load.common import bank_rendered, django_environment, django_setup, migrate, study_create, throwaway_database

KINDS = ("question", "image", "clock start", "answer")


class Meter:
    def __init__(self) -> None:
        self.cpu: Counter = Counter()
        self.count: Counter = Counter()

    def __call__(self, kind: str, request: Callable[[], object]):
        started = time.process_time()
        result = request()
        self.cpu[kind] += time.process_time() - started
        self.count[kind] += 1
        return result


def walk(study, meter: Meter) -> int:
    """One whole session through the API; returns its number of questions (practice included)."""
    from django.test import Client

    from survey.models import Invite

    client = Client()
    started = client.post(
        "/api/participant/sessions/",
        {
            "invite": Invite.objects.create(study=study).token,
            "consent": True,
            "profession": "other",
            "years_experience": 3,
        },
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
            image = meter("image", lambda url=url: b"".join(client.get(url, **auth).streaming_content))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="whole sessions measured (after one warm-up)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="survey-cpu-") as folder, throwaway_database("survey_cpu") as url:
        django_setup({**django_environment(url, Path(folder)), "SURVEY_IMAGE_SIZE": "256"})
        from django.db import connections
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client's host passes ALLOWED_HOSTS
        try:
            migrate()
            study = study_create("cpu", per_category=5, arming_delay_ms=0)
            bank_rendered(study, 208)
            walk(study, Meter())  # warm-up: URLconf, DRF, the connection
            meter = Meter()
            questions = sum(walk(study, meter) for _ in range(args.sessions))
        finally:
            connections.close_all()
    print(f"{'request':14}{'n':>6}{'CPU ms each':>14}")
    for kind in (*KINDS, "healthz"):
        print(f"{kind:14}{meter.count[kind]:>6}{1000 * meter.cpu[kind] / meter.count[kind]:>14.2f}")
    per_question = 1000 * sum(meter.cpu[k] for k in KINDS) / questions
    healthz = 1000 * meter.cpu["healthz"] / meter.count["healthz"]
    print(
        f"per question ({questions} questions, practice included): {per_question:.1f} ms of this process's CPU, "
        f"{per_question / healthz:.1f} x /healthz ({healthz:.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
