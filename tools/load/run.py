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

This file holds the options and the order of a run; the rest lives beside it: servers.py (gunicorn
instances and their processes), cpu_accounting.py (CPU from /proc), participants.py (the simulated
participant), drive.py (the run itself and the kill), checks.py (the export and the errors), report.py
(what is printed, the targets).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.load.checks import attribute_failures, verify
from tools.load.common import (
    bank_rendered,
    django_environment,
    django_setup,
    migrate,
    study_create,
    throwaway_database,
)
from tools.load.drive import drive
from tools.load.participants import PER_CATEGORY
from tools.load.report import export_summary, latency_table, report_targets, run_queries, run_summary
from tools.load.servers import Instance, instance_start, instance_stop


def arguments() -> argparse.ArgumentParser:
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
    return parser


def study_setup(args: argparse.Namespace, database_url: str) -> str:
    """Migrate the throwaway database and build the study 'load' with its bank; returns a reusable invite."""
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
    return invite


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
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
            invite = study_setup(args, database_url)

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

            client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
            run_summary(args, run, client_cpu)

            print("\n== latency (successful requests; healthz sampled throughout the same run)")
            stats = latency_table(run)

            print("\n== errors")
            _, unexplained = attribute_failures(run)

            print("\n== answers against the tidy export (survey.export.answers_frame)")
            verdict = verify(run, "load")
            export_summary(run, verdict)
        finally:
            for instance in instances:
                instance_stop(instance)
    queries_ok = None if args.skip_queries else run_queries()
    return 0 if report_targets(args, run, stats, verdict, unexplained, queries_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
