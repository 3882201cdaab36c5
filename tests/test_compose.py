"""compose.yaml is the production shape docs/operations.md describes: a proxy spreading
requests over two or more stateless web hosts, a worker, the periodic close_expired, PostgreSQL, Redis and an
S3-compatible store. These tests keep it that shape and keep it loadable: every variable it sets is one the
settings read, and the settings start with exactly those values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict = COMPOSE["services"]
# The web hosts run the image's own command (gunicorn, Dockerfile).
WEB = sorted(name for name, service in SERVICES.items() if service.get("build") and "command" not in service)


def survey_environment() -> dict[str, str]:
    env = dict(SERVICES[WEB[0]]["environment"])
    secret = "compose-test-" + "x" * 50
    return {
        key: str(value).replace("${SURVEY_SECRET_KEY:?set SURVEY_SECRET_KEY to a long random string}", secret)
        for key, value in env.items()
    }


def test_two_or_more_web_hosts_behind_the_proxy_with_the_same_settings():
    assert len(WEB) >= 2, WEB
    assert all(SERVICES[name]["environment"] == SERVICES[WEB[0]]["environment"] for name in WEB)
    upstreams = re.findall(r"--to (\S+):8000", SERVICES["proxy"]["command"])
    assert sorted(upstreams) == WEB
    assert all("volumes" not in SERVICES[name] for name in WEB), "a web host must keep no state of its own"


def test_the_shared_services_are_where_the_settings_point():
    env = survey_environment()
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["SURVEY_CACHE_URL"] == "redis://redis:6379/0" and "redis" in SERVICES
    assert env["SURVEY_IMAGE_BANK_ENDPOINT_URL"].startswith("http://objects:") and "objects" in SERVICES
    assert env["SURVEY_TRUSTED_PROXIES"] == "1"  # exactly the one proxy in front
    assert SERVICES["worker"]["command"] == "python manage.py db_worker"
    assert "close_expired" in SERVICES["close-expired"]["command"]
    assert "migrate" in SERVICES["migrate"]["command"]


def test_every_variable_is_one_the_settings_read():
    read = set(re.findall(r'env_\w+\("([A-Z_]+)"', (ROOT / "config" / "settings.py").read_text()))
    read |= {"DATABASE_URL"}  # read by dj_database_url
    read |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3 itself (django-storages)
    unknown = set(survey_environment()) - read
    assert not unknown, f"compose.yaml sets variables no setting reads: {sorted(unknown)}"


@pytest.mark.slow
def test_the_settings_start_with_the_compose_environment():
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SURVEY_", "DATABASE_"))
    } | survey_environment()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], "
        "s.STORAGES['image_bank']['BACKEND'], s.DEBUG)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "django.db.backends.postgresql",
        "django.core.cache.backends.redis.RedisCache",
        "storages.backends.s3.S3Storage",
        "False",
    ]
