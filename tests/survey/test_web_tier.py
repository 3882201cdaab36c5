"""A web tier with no state of its own: the client's address behind proxies, the settings that choose the
shared services, the one clock, and the image bank in an object store. (The same with real services,
two hosts and PostgreSQL: tests/test_multi_host.py.)"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from survey import services
from survey.security import client_address

ROOT = Path(__file__).resolve().parents[2]


# --- the client's address --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.9"),  # no proxy trusted: the header is whatever the client wrote
        (1, "198.51.100.1", "198.51.100.1"),  # one proxy: the address it received from
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote to the left is ignored
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),  # two proxies: second from the right
        (2, "198.51.100.1", "10.0.0.9"),  # fewer entries than proxies: it did not come through them all
        (1, "", "10.0.0.9"),
    ],
)
def test_the_client_address_is_the_entry_the_trusted_proxies_saw(settings, proxies, forwarded, expected):
    settings.SURVEY_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_behind_a_proxy_each_expert_has_their_own_invite_limit(study, settings):
    """Every request reaches the web host from the proxy's address; the limit counts the experts apart."""
    settings.SURVEY_INVITE_RATE = "2/minute"
    settings.SURVEY_TRUSTED_PROXIES = 1

    def attempts(client: Client) -> list[int]:
        return [client.get(reverse("survey:invite", args=[f"guess-{i}"])).status_code for i in range(3)]

    proxy = "10.0.0.2"
    assert attempts(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.10")) == [404, 404, 429]
    assert attempts(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.11")) == [404, 404, 429]
    # A forged entry to the left changes nothing: the proxy appended the real address.
    forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.10")
    assert forged.get(reverse("survey:invite", args=["again"])).status_code == 429


# --- settings from the environment ------------------------------------------------------------------------


def production_settings(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """Load config.settings in a fresh process with production defaults plus `variables`; prints the
    settings the web tier's shared services depend on as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SURVEY_", "DATABASE_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "s" * 60,
            "SURVEY_VAR_DIR": str(tmp_path),
            **variables,
        }
    )
    code = (
        "import json; from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(json.dumps({'engine': d['ENGINE'], 'max_age': d['CONN_MAX_AGE'], 'health': d['CONN_HEALTH_CHECKS'], "
        "'cache': s.CACHES['default']['BACKEND'], 'bank': s.STORAGES['image_bank'], "
        "'proxies': s.SURVEY_TRUSTED_PROXIES, 'pad': s.SURVEY_IMAGE_PAD_BYTES}))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_production_settings_refuse_sqlite_unless_it_is_chosen(tmp_path):
    refused = production_settings(tmp_path)
    assert refused.returncode != 0 and "DATABASE_URL is not set" in refused.stderr
    assert "SURVEY_ALLOW_SQLITE=1" in refused.stderr
    allowed = production_settings(tmp_path, SURVEY_ALLOW_SQLITE="1")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["engine"] == "django.db.backends.sqlite3"
    debug = production_settings(tmp_path, DJANGO_DEBUG="1")  # local work: SQLite as before
    assert debug.returncode == 0, debug.stderr


def test_the_defaults_keep_state_local_and_connections_open(tmp_path):
    loaded = json.loads(production_settings(tmp_path, DATABASE_URL="postgres://u@db.example:5432/s").stdout)
    assert loaded["max_age"] == 60 and loaded["health"] is True
    assert loaded["cache"].endswith("LocMemCache")
    assert loaded["bank"]["BACKEND"] == "survey.storage.ImageBankFileStorage"
    assert loaded["proxies"] == 0 and loaded["pad"] is None  # None: each study's own length


def test_shared_services_are_chosen_by_environment_variables(tmp_path):
    loaded = json.loads(
        production_settings(
            tmp_path,
            DATABASE_URL="postgres://u@db.example:5432/s",
            DATABASE_CONN_MAX_AGE="0",
            SURVEY_CACHE_URL="redis://cache.example:6379/1",
            SURVEY_TRUSTED_PROXIES="2",
            SURVEY_IMAGE_BANK_BUCKET="portraits",
            SURVEY_IMAGE_BANK_ENDPOINT_URL="http://objects.example:9000",
            SURVEY_IMAGE_PAD_BYTES="65536",
        ).stdout
    )
    assert loaded["max_age"] == 0
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["proxies"] == 2 and loaded["pad"] == 65536
    bank = loaded["bank"]
    assert bank["BACKEND"] == "storages.backends.s3.S3Storage"
    assert bank["OPTIONS"]["bucket_name"] == "portraits"
    assert bank["OPTIONS"]["endpoint_url"] == "http://objects.example:9000" and bank["OPTIONS"]["default_acl"] is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SURVEY_CACHE_URL",
            "memcached://x:11211",
            "SURVEY_CACHE_URL='memcached://x:11211' is not a URL starting with redis://",
        ),
        ("SURVEY_TRUSTED_PROXIES", "one", "SURVEY_TRUSTED_PROXIES='one' is not a whole number"),
        ("SURVEY_TRUSTED_PROXIES", "-1", "SURVEY_TRUSTED_PROXIES=-1 is below the minimum of 0"),
        ("SURVEY_IMAGE_PAD_BYTES", "big", "SURVEY_IMAGE_PAD_BYTES='big' is neither a whole number nor 'auto'"),
        (
            "SURVEY_IMAGE_BANK_ENDPOINT_URL",
            "objects.example:9000",
            "SURVEY_IMAGE_BANK_ENDPOINT_URL='objects.example:9000' is not a URL",
        ),
        ("SURVEY_ALLOW_SQLITE", "perhaps", "SURVEY_ALLOW_SQLITE='perhaps' is not a boolean"),
        ("DATABASE_CONN_MAX_AGE", "1m", "DATABASE_CONN_MAX_AGE='1m' is not a whole number"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    variables = {"SURVEY_ALLOW_SQLITE": "1", "SURVEY_IMAGE_BANK_BUCKET": "portraits", variable: value}
    result = production_settings(tmp_path, **variables)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-500:]
    assert "Traceback" in result.stderr  # Django's ImproperlyConfigured, as for every other setting


# --- the one clock ----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_on_postgresql_every_stamp_comes_from_the_database_clock(quiz_session, settings, time_machine):
    """Python's clock is moved back to 2001 (as a host with a wrong clock would be); the stamps are the
    database's time all the same: served, delivered, clock start and answer."""
    settings.SURVEY_CLOCK = "database"
    time_machine.move_to(datetime(2001, 1, 1, tzinfo=UTC), tick=True)
    assert timezone.now().year == 2001
    question = services.session_current_question(session=quiz_session)
    for shown in question.images.all():
        services.portrait_delivered(shown=shown)
    services.question_clock_start(session=quiz_session, question_id=question.pk)
    quiz_session.study.arming_delay_ms = 0
    services.answer_submit(session=quiz_session, question_id=question.pk, choice=None)
    question.refresh_from_db()
    stamps = [
        question.served_at,
        question.portraits_delivered_at,
        question.clock_started_at,
        question.answer.answered_at,
        *question.images.values_list("delivered_at", flat=True),
    ]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        database_now = cursor.fetchone()[0]
    assert all(abs(stamp - database_now) < timedelta(minutes=5) for stamp in stamps), stamps
    assert question.served_at <= question.clock_started_at <= question.answer.answered_at


def test_on_sqlite_or_in_the_test_suite_the_stamps_follow_pythons_clock(quiz_session, time_machine):
    time_machine.move_to(datetime(2031, 1, 1, tzinfo=UTC), tick=False)
    question = services.session_current_question(session=quiz_session)
    shown = question.images.first()
    services.portrait_delivered(shown=shown)
    shown.refresh_from_db()
    question.refresh_from_db()
    assert question.served_at == shown.delivered_at == datetime(2031, 1, 1, tzinfo=UTC)


# --- the image bank in an object store -------------------------------------------------------------------


@pytest.fixture
def object_store_bank(settings):
    """The image bank in an S3 bucket (moto's in-process S3: the same boto3 calls a real store answers)."""
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="portraits")
        settings.STORAGES = {
            **settings.STORAGES,
            "image_bank": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": "portraits",
                    "location": "bank",
                    "region_name": "us-east-1",
                    "default_acl": None,
                    "file_overwrite": True,
                    "access_key": "test",
                    "secret_key": "test",
                },
            },
        }
        yield boto3.client("s3", region_name="us-east-1")


def test_imports_write_to_the_object_store_and_delivery_streams_from_it(db, object_store_bank, settings, tmp_path):
    from survey.delivery import image_response, pad_block
    from survey.image_bank import portrait_add
    from tests.survey.factories import DisorderFactory, StudyFactory

    settings.IMAGE_BANK_ROOT = tmp_path / "must-stay-empty"
    study = StudyFactory(slug="bucket", disorders=[DisorderFactory(code="velmar")])
    rng = np.random.default_rng(5)
    portraits = [
        portrait_add(
            study=study,
            image=Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)),
            kind="synthetic",
            disorder_code="velmar",
        )
        for _ in range(2)
    ]
    keys = {o["Key"] for o in object_store_bank.list_objects_v2(Bucket="portraits")["Contents"]}
    assert keys == {f"bank/{p.content_hash[:2]}/{p.content_hash}.jpg" for p in portraits}
    assert not settings.IMAGE_BANK_ROOT.exists()  # nothing of the bank on this host
    for portrait in portraits:
        response = image_response(portrait.content_hash, pad_to=pad_block(study))
        body = b"".join(response.streaming_content)
        stored = object_store_bank.get_object(
            Bucket="portraits", Key=f"bank/{portrait.content_hash[:2]}/{portrait.content_hash}.jpg"
        )["Body"].read()
        assert body.startswith(stored) and len(body) == int(response["Content-Length"]) == pad_block(study)
        assert Image.open(io.BytesIO(body)).size == (settings.SURVEY_IMAGE_SIZE,) * 2
    from django.http import Http404

    with pytest.raises(Http404):
        image_response("0" * 64, pad_to=1024)
