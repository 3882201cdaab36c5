"""Request CPU time of the coordinator's pages for studies of 50, 500 and 5,000 simulated experts.

    .venv/bin/python scripts/bench_coordinator.py                  # 50, 500, 5000 experts, SQLite
    .venv/bin/python scripts/bench_coordinator.py --experts 50 500 --postgres

Each size gets a throwaway database (a SQLite file in a temporary folder, or with --postgres a fresh
PostgreSQL database on 127.0.0.1:5432), a study with a bank of portrait rows, and one session played through
the real services; that session's questions, options and portraits are then copied in bulk for every other
expert, with seeded random answers. Pages are requested in-process with Django's test client as a
superuser, and each request's CPU time is `time.process_time()` around it (a streamed download counts until
its last byte). Prints one table; docs/coordinator.md shows a run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.load.common import (  # noqa: E402
    bank_rows,
    django_environment,
    django_setup,
    migrate,
    study_create,
    throwaway_database,
)

BANK = 400  # portrait rows: every session draws its own mix from them
COPY_BATCH = 100  # sessions per bulk insert


def play_template(study):
    """One real session through the services: its rows are the pattern every simulated expert copies."""
    from survey import services

    invite = services.invites_issue(study=study, count=1)[0]
    session = services.session_start(invite=invite)
    services.session_profile_submit(session=session, profession="clinical_geneticist", years_experience=9)
    services.session_quiz_begin(session=session)
    while (question := services.session_current_question(session=session)) is not None:
        services.question_clock_start(session=session, question_id=question.pk)
        services.answer_submit(session=session, question_id=question.pk, choice=question.correct_choice)
    session.refresh_from_db()
    return session


def copy_sessions(study, template, count: int, rng: random.Random) -> None:
    """`count` finished sessions shaped like `template`, each with its own answers, in bulk."""
    from survey.models import Answer, Option, Outcome, Question, QuizSession, ShownImage

    questions = list(template.questions.prefetch_related("images", "options__image").select_related("answer"))
    for first in range(0, count, COPY_BATCH):
        n = min(COPY_BATCH, count - first)
        offset = [timedelta(seconds=first * 60 + i * 60) for i in range(n)]
        sessions = QuizSession.objects.bulk_create(
            [
                QuizSession(
                    study=study,
                    stage=QuizSession.Stage.FINISHED,
                    profession=rng.choice(["clinical_geneticist", "paediatrician"]),
                    years_experience=rng.randint(1, 30),
                    consented_at=template.consented_at + offset[i],
                    started_at=template.started_at + offset[i],
                    finished_at=template.finished_at + offset[i],
                )
                for i in range(n)
            ]
        )
        new_questions = []
        for i, session in enumerate(sessions):
            for q in questions:
                new_questions.append(
                    Question(
                        session=session,
                        is_practice=q.is_practice,
                        position=q.position,
                        sequence=q.sequence,
                        category=q.category,
                        disorder_id=q.disorder_id,
                        stimulus_kind=q.stimulus_kind,
                        correct_choice=q.correct_choice,
                        time_limit_ms=q.time_limit_ms,
                        grace_ms=q.grace_ms,
                        load_allowance_ms=q.load_allowance_ms,
                        transfer_allowance_ms=q.transfer_allowance_ms,
                        arming_delay_ms=q.arming_delay_ms,
                        served_at=q.served_at + offset[i],
                        portraits_delivered_at=q.portraits_delivered_at and q.portraits_delivered_at + offset[i],
                        clock_started_at=q.clock_started_at + offset[i],
                        clock_rule=q.clock_rule,
                    )
                )
        new_questions = Question.objects.bulk_create(new_questions)
        images, options, answers = [], [], []
        for index, question in enumerate(new_questions):
            pattern = questions[index % len(questions)]
            for image in pattern.images.all():
                images.append(
                    ShownImage(
                        session_id=question.session_id,
                        question=question,
                        portrait_id=image.portrait_id,
                        role=image.role,
                        slot=image.slot,
                        repeatable=image.repeatable,
                    )
                )
        images = ShownImage.objects.bulk_create(images)
        by_place = {(image.question_id, image.role, image.slot): image for image in images}
        for index, question in enumerate(new_questions):
            pattern = questions[index % len(questions)]
            codes = [option.code for option in pattern.options.all()]
            for option in pattern.options.all():
                image = by_place.get((question.pk, option.image.role, option.image.slot)) if option.image_id else None
                options.append(
                    Option(question=question, slot=option.slot, code=option.code, label=option.label, image=image)
                )
            choice = rng.choice(codes)
            response_ms = rng.randint(900, 9000)
            answers.append(
                Answer(
                    question=question,
                    outcome=Outcome.ANSWERED,
                    choice=choice,
                    correct=choice == question.correct_choice,
                    response_ms=response_ms,
                    answered_at=question.clock_started_at + timedelta(milliseconds=response_ms),
                )
            )
        Option.objects.bulk_create(options)
        Answer.objects.bulk_create(answers)


def cpu(client, method: str, path: str) -> tuple[float, int]:
    """CPU seconds of one request in this process, a streamed body read to its end; and its status."""
    started = time.process_time()
    response = getattr(client, method)(path)
    if response.streaming:
        for _ in response.streaming_content:
            pass
    else:
        _ = response.content
    return time.process_time() - started, response.status_code


def first_chunk_cpu(client, path: str) -> float:
    """CPU seconds until a streamed download's first bytes are ready to send."""
    started = time.process_time()
    response = client.get(path)
    next(iter(response.streaming_content))
    elapsed = time.process_time() - started
    response.close()
    return elapsed


def measure(experts: int, use_postgres: bool) -> dict[str, float]:
    database = throwaway_database("bench_coord") if use_postgres else nullcontext(None)
    with tempfile.TemporaryDirectory(prefix="bench-coordinator-") as folder, database as url:
        var = Path(folder)
        environment = django_environment(url or f"sqlite:///{var / 'bench.sqlite3'}", var)
        # production settings but for static files (served from the apps, no collectstatic) and fast hashing
        environment["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
        django_setup(environment)
        from django.contrib.auth import get_user_model
        from django.core.cache import cache
        from django.test import Client

        from survey import tasks
        from survey.models import Answer, Job

        migrate()
        study = study_create(f"bench{experts}", arming_delay_ms=0)
        bank_rows(study, BANK)
        template = play_template(study)
        started = time.perf_counter()
        copy_sessions(study, template, experts - 1, random.Random(experts))
        built_s = time.perf_counter() - started
        user = get_user_model().objects.create_superuser("bench", "b@example.org", "x")
        client = Client()
        client.force_login(user)
        slug = study.slug
        import matplotlib.pyplot  # noqa: F401 - imported once per process, not part of any request's cost

        import survey.dashboard  # noqa: F401

        client.get(f"/staff/studies/{slug}/portraits/")  # the first request of a process loads templates
        cache.clear()
        row: dict[str, float] = {"experts": experts, "answers": Answer.objects.count(), "built_s": built_s}
        dashboard = f"/staff/studies/{slug}/dashboard/"
        row["dashboard (no figures yet: queues them)"], _ = cpu(client, "get", dashboard)
        job = Job.objects.get(kind=Job.Kind.DASHBOARD)
        started = time.process_time()
        tasks.refresh_dashboard.call(job.pk)  # what the worker spends, outside any request
        row["dashboard worker"] = time.process_time() - started
        row["dashboard (fresh)"], _ = cpu(client, "get", dashboard)
        copy_sessions(study, template, 1, random.Random(-experts))  # one more expert: the figures are stale
        row["dashboard (stale: served, recompute queued)"], _ = cpu(client, "get", dashboard)
        row["dashboard (stale, recompute pending)"], status = cpu(client, "get", dashboard)
        assert status == 200 and Job.objects.filter(kind=Job.Kind.DASHBOARD, state=Job.State.QUEUED).count() == 1
        row["item view (computed)"], _ = cpu(client, "get", f"/staff/studies/{slug}/items/")
        row["item view (cached)"], _ = cpu(client, "get", f"/staff/studies/{slug}/items/")
        for table in ("answers", "options", "participants"):
            path = f"/api/studies/{slug}/export/{table}.csv"
            row[f"{table}.csv first bytes"] = first_chunk_cpu(client, path)
            row[f"{table}.csv whole"], _ = cpu(client, "get", path)
        row["exports page"], _ = cpu(client, "get", f"/staff/studies/{slug}/exports/")
        row["answers.xlsx queue"], _ = cpu(client, "post", f"/staff/studies/{slug}/exports/answers/xlsx/")
        job = Job.objects.get(kind=Job.Kind.EXPORT)
        started = time.process_time()
        tasks.build_export.call(job.pk)  # what the worker spends, outside any request
        row["answers.xlsx worker"] = time.process_time() - started
        row["answers.xlsx download"], status = cpu(client, "get", f"/staff/studies/{slug}/jobs/{job.pk}/download/")
        assert status == 200
        from django.db import connections

        connections.close_all()
        return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database instead of SQLite")
    args = parser.parse_args(argv)
    if len(args.experts) > 1:  # Django configures once per process: one child process per size
        import subprocess

        rows = []
        for n in args.experts:
            command = [sys.executable, __file__, "--experts", str(n)] + (["--postgres"] if args.postgres else [])
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
        print_table(rows, "PostgreSQL" if args.postgres else "SQLite")
        return 0
    print(json.dumps(measure(args.experts[0], args.postgres)))
    return 0


def print_table(rows: list[dict], database: str) -> None:
    names = [k for k in rows[0] if k not in ("experts", "answers", "built_s")]
    print(f"Request CPU seconds ({database}; time.process_time() in-process; 30 timed questions per expert)")
    header = "| request | " + " | ".join(f"{r['experts']:,} experts ({r['answers']:,} answers)" for r in rows) + " |"
    print(header)
    print("|---|" + "---:|" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[name]:.3f}" for r in rows) + " |")


if __name__ == "__main__":
    sys.exit(main())
