"""What the load tool and the query counter share: a throwaway PostgreSQL database, the environment the
web tier reads its settings from, and banks of portraits (rendered files, or bare rows).

Nothing here runs under pytest; tools/load is a tool, not a test module.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as `python tools/load/run.py`: the project's packages live at the root
    sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get("LOAD_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
N_DISORDERS = 8  # the phantom renderer's disorders; diagnosis questions offer 4 of them

# Per disorder, in this order: 1 latent average, 4 training, 3 held out, 5 synthetic, then again. Each
# session sees each real/synthetic portrait at most once, but sessions share them, so a modest bank
# suffices. The latent average comes first so that even a bank of ~100 has one per disorder.
KIND_CYCLE: tuple[tuple[str, bool | None], ...] = (
    ("latent_average", None),
    ("real", True),
    ("real", True),
    ("real", True),
    ("real", True),
    ("real", False),
    ("real", False),
    ("real", False),
    ("synthetic", None),
    ("synthetic", None),
    ("synthetic", None),
    ("synthetic", None),
    ("synthetic", None),
)


def _admin_connection():
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    return connection


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run; dropped afterwards even if the run failed."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            # FORCE: a killed worker's connection may linger for a moment.
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def django_environment(
    database_url: str, var_dir: Path, *, invite_rate: str = "100000/minute", conn_max_age: int = 60
) -> dict[str, str]:
    """The settings every process of a run reads (config/settings.py takes them all from the environment)."""
    (var_dir / "static").mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing STATIC_ROOT
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_DEBUG": "0",  # production code paths: no query log, no debug pages
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_LOG_LEVEL": "ERROR",  # keep tracebacks of 5xx, drop the per-409 warnings
        "SURVEY_VAR_DIR": str(var_dir),
        "SURVEY_IMAGE_BANK_ROOT": str(var_dir / "image-bank"),
        "DJANGO_STATIC_ROOT": str(var_dir / "static"),
        "SURVEY_INVITE_RATE": invite_rate,  # every simulated participant comes from 127.0.0.1
    }


def django_setup(environment: dict[str, str]) -> None:
    """Configure Django in this process with the run's environment (before any Django import reads it)."""
    os.environ.update(environment)
    import django

    django.setup()


def migrate() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - started


def study_create(
    slug: str,
    *,
    per_category: int = 10,
    time_limit_ms: int | None = None,
    grace_ms: int | None = None,
    load_allowance_ms: int | None = None,
    arming_delay_ms: int | None = None,
):
    """A study over the renderer's disorders; None keeps a setting's default."""
    import phantoms
    from survey.models import Disorder, Study

    disorders = [
        Disorder.objects.update_or_create(code=d.code, defaults={"name": d.name})[0]
        for d in phantoms.DISORDERS[:N_DISORDERS]
    ]
    fields: dict[str, int] = {
        "n_real_vs_synthetic": per_category,
        "n_reidentification": per_category,
        "n_diagnosis": per_category,
    }
    if time_limit_ms is not None:
        fields.update(
            time_limit_real_vs_synthetic_ms=time_limit_ms,
            time_limit_reidentification_ms=time_limit_ms,
            time_limit_diagnosis_ms=time_limit_ms,
        )
    if grace_ms is not None:
        fields["grace_ms"] = grace_ms
    if load_allowance_ms is not None:
        fields["load_allowance_ms"] = load_allowance_ms
    if arming_delay_ms is not None:
        fields["arming_delay_ms"] = arming_delay_ms
    study = Study.objects.create(slug=slug, title=f"Load study {slug}", consent_text="Load test.", **fields)
    study.disorders.set(disorders)
    return study


def bank_rendered(study, n: int) -> int:
    """n phantom portraits through the real import pipeline (normalised JPEGs on disk), so images can be
    fetched. About 0.1 s each."""
    from django.conf import settings

    import phantoms
    from survey.image_bank import portrait_add

    codes = [d.code for d in study.disorders.order_by("code")]
    for i in range(n):
        kind, training = KIND_CYCLE[(i // len(codes)) % len(KIND_CYCLE)]
        image = phantoms.render_portrait(codes[i % len(codes)], 300_000 + i, settings.SURVEY_IMAGE_SIZE)
        portrait_add(
            study=study, image=image, kind=kind, disorder_code=codes[i % len(codes)], used_in_training=training
        )
    return study.portraits.count()


def bank_rows(study, n: int, *, start: int = 0, batch: int = 5000) -> int:
    """n portrait rows without files, in bulk: what the query count depends on is the rows, not the bytes."""
    import hashlib

    from survey.models import Portrait

    disorders = list(study.disorders.order_by("code"))
    for first in range(start, start + n, batch):
        rows = []
        for i in range(first, min(first + batch, start + n)):
            kind, training = KIND_CYCLE[(i // len(disorders)) % len(KIND_CYCLE)]
            rows.append(
                Portrait(
                    study=study,
                    disorder=disorders[i % len(disorders)],
                    kind=kind,
                    used_in_training=training,
                    content_hash=hashlib.sha256(f"{study.slug}-{i}".encode()).hexdigest(),
                    width=256,
                    height=256,
                    byte_size=1000,
                )
            )
        Portrait.objects.bulk_create(rows)
    return study.portraits.count()
