"""SQL queries per participant request, for a small and a large image bank: the count must not grow with
the bank.

    .venv/bin/python tools/load/queries.py                      # banks of 100 and 100,000 portraits
    .venv/bin/python tools/load/queries.py --banks 100 5000 --sql   # also print one request's SQL

Creates its own throwaway PostgreSQL database (127.0.0.1:5432, user postgres; LOAD_PG_ADMIN_URL overrides),
migrates it, adds portrait rows in bulk without image files (the query count depends on rows, not bytes),
and drives the participant API in-process with Django's test client inside CaptureQueriesContext. Run by
tools/load/run.py too. The regular test suite checks the same in tests/survey/test_query_counts.py.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.load.common import (
    bank_rows,
    django_environment,
    django_setup,
    migrate,
    study_create,
    throwaway_database,
)

QUESTIONS_MEASURED = 6  # spans at least two categories (5 questions per category in this study)
# The requests a participant makes per question, in order; each is measured on its own.
STEPS = ("current question (first serve)", "current question (reload)", "image", "clock start", "answer")


@dataclass
class Measured:
    queries: dict[str, list[int]] = field(default_factory=dict)
    ms: dict[str, list[float]] = field(default_factory=dict)
    sql: dict[str, list[str]] = field(default_factory=dict)

    def add(self, step: str, queries: list[str], ms: float) -> None:
        self.queries.setdefault(step, []).append(len(queries))
        self.ms.setdefault(step, []).append(ms)
        self.sql.setdefault(step, queries)


def _request(client, method: str, path: str, token: str, measured: Measured, step: str, **data):
    """One API call inside CaptureQueriesContext; asserts it succeeded, so a count is never of an error."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = getattr(client, method)(
            path, data=data or None, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code in (200, 201), (step, response.status_code, response.content[:300])
    measured.add(step, [q["sql"] for q in captured.captured_queries], elapsed)
    return response


_PARTICIPANTS = itertools.count()


def measure_session(client, invite_token: str) -> Measured:
    """Start a session through the API and walk its first questions, counting each request's queries."""
    measured = Measured()
    started = _request(
        client,
        "post",
        "/api/participant/sessions/",
        "",
        measured,
        "session start",
        invite=invite_token,
        consent=True,
        profession="other",
        years_experience=5,
        participant_id=f"queries-{next(_PARTICIPANTS)}",
    )
    token = started.json()["token"]
    _request(client, "post", "/api/participant/session/begin/", token, measured, "begin")
    for _ in range(QUESTIONS_MEASURED):
        question = _request(client, "get", "/api/participant/question/", token, measured, STEPS[0]).json()
        _request(client, "get", "/api/participant/question/", token, measured, STEPS[1])
        urls = question["stimulus_urls"] + [o["image_url"] for o in question["options"] if o["image_url"]]
        measure_image(client, urls[0], token, measured)
        _request(client, "post", f"/api/participant/questions/{question['id']}/start/", token, measured, STEPS[3])
        _request(
            client,
            "post",
            f"/api/participant/questions/{question['id']}/answer/",
            token,
            measured,
            STEPS[4],
            choice=question["options"][0]["code"],
        )
    return measured


def measure_image(client, url: str, token: str, measured: Measured) -> None:
    """The portrait view answers 404 here (rows without files) after the same lookups as a 200."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code in (200, 404), response.status_code
    measured.add(STEPS[2], [q["sql"] for q in captured.captured_queries], elapsed)


def _counts(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def report(results: dict[int, Measured], show_sql: bool) -> bool:
    """Print the table; True when every step's query count is the same for every bank size."""
    sizes = sorted(results)
    steps = ["session start", "begin", *STEPS]
    header = (
        f"{'request':34}"
        + "".join(f"{f'queries @{n:,}':>18}" for n in sizes)
        + "".join(f"{f'median ms @{n:,}':>20}" for n in sizes)
    )
    print(header)
    constant = True
    for step in steps:
        counts = [results[n].queries[step] for n in sizes]
        same = all(set(c) == set(counts[0]) for c in counts)
        constant &= same or step == "session start"
        line = (
            f"{step:34}"
            + "".join(f"{_counts(c):>18}" for c in counts)
            + "".join(f"{statistics.median(results[n].ms[step]):>20.1f}" for n in sizes)
        )
        print(line + ("" if same else "   <-- differs"))
    print(
        "(per question: min-max over the first "
        f"{QUESTIONS_MEASURED} questions; 'image' is a 404 here because bank rows have no files)"
    )
    if show_sql:
        for step in STEPS:
            print(f"\n-- SQL of '{step}' (bank of {sizes[-1]:,}):")
            for sql in results[sizes[-1]].sql[step]:
                print("   ", sql[:240])
    return constant


def run(banks: list[int], show_sql: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="survey-queries-") as folder, throwaway_database("survey_queries") as url:
        django_setup(django_environment(url, Path(folder)))
        from django.db import connections
        from django.test import Client
        from django.test.utils import setup_test_environment

        from survey.models import Invite

        setup_test_environment()  # lets the test client's host through ALLOWED_HOSTS
        logging.getLogger("django.request").setLevel(logging.ERROR)  # the expected 404s of file-less images
        try:
            print(f"migrated a throwaway database in {migrate():.1f} s")
            # Answers at the instant of the clock start: the arming delay would refuse them.
            study = study_create("queries", per_category=5, arming_delay_ms=0)
            invite = Invite.objects.create(study=study, reusable=True)
            results: dict[int, Measured] = {}
            have = 0
            for size in sorted(banks):
                started = time.perf_counter()
                have = bank_rows(study, size - have, start=have)
                print(f"bank: {have:,} portrait rows ({time.perf_counter() - started:.1f} s to add)")
                results[size] = measure_session(Client(), invite.token)
            print()
            constant = report(results, show_sql)
        finally:
            connections.close_all()  # before the database is dropped
    print(f"\nqueries per request constant in the bank's size: {'yes' if constant else 'NO'}")
    return constant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banks", type=int, nargs="+", default=[100, 100_000], help="bank sizes to compare")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one request of each kind")
    args = parser.parse_args(argv)
    return 0 if run(args.banks, args.sql) else 1


if __name__ == "__main__":
    sys.exit(main())
