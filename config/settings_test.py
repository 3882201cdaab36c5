"""Settings for the test suite: production settings with a throwaway secret, plain HTTP and a
temporary image bank."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("SURVEY_IMAGE_BANK_ROOT", tempfile.mkdtemp(prefix="survey-test-bank-"))
os.environ.setdefault("SURVEY_ALLOW_SQLITE", "1")  # the suite runs on SQLite unless DATABASE_URL says otherwise

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users in tests only
STATIC_ROOT = tempfile.mkdtemp(prefix="survey-test-static-")
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
SURVEY_INVITE_RATE = "10000/minute"  # tests of the limit set their own
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as deployed, not SQLite's in-memory shared cache: there a writer meeting another thread's open
    # read fails at once ("database table is locked") instead of waiting, so the browser tests' threaded
    # live server could not fetch a question's portraits in parallel as a real server does.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.mkdtemp(prefix="survey-test-db-"), "test.sqlite3")}  # noqa: F405
SURVEY_IMAGE_SIZE = 256  # a quarter of the pixels of the default: the image tests run 4x faster
SURVEY_CLOCK = "python"  # time_machine moves it; tests of the database's clock set "database" themselves
