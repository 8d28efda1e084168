"""Settings are parsed strictly from the environment: tested in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qp9Lm2Zr" * 6,
    "ALLOWED_HOSTS": "spotilytics.example.com",
    "DATABASE_URL": "sqlite:///" + str(ROOT / "unused.sqlite3"),
}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "spotilytics.settings"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    return _run(
        ["-c", "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"], **env
    )


def test_settings_default_to_sqlite_in_the_project_folder():
    result = _load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_settings_choose_postgresql_from_database_url():
    result = _run(
        [
            "-c",
            "from django.conf import settings; d = settings.DATABASES['default'];"
            "print(d['ENGINE'], d['NAME'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
        ],
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/spotilytics",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "spotilytics", "600", "True"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be one of"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE must be an IANA time zone"),
        ({"DATABASE_URL": "mysql://db/spotilytics"}, "DATABASE_URL must point at SQLite"),
        ({"CONN_MAX_AGE": "soon", "DATABASE_URL": "postgres://h/db"}, "CONN_MAX_AGE must be a whole number"),
        ({"ROYALTY_SHARE": "1.5"}, "ROYALTY_SHARE must be between 0 and 1"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with redis://"),
        ({"IMPORT_MAX_UPLOAD_MB": "0"}, "IMPORT_MAX_UPLOAD_MB must be at least 1"),
    ],
)
def test_settings_reject_bad_values_with_a_message_naming_the_variable(env, message):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_settings_read_the_reporting_time_zone():
    result = _run(
        ["-c", "from django.conf import settings; print(settings.TIME_ZONE)"], TIME_ZONE="Europe/Stockholm"
    )
    assert result.stdout.strip() == "Europe/Stockholm"


def test_check_deploy_is_clean_with_production_values():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _run(["manage.py", "check", "--deploy"], **env)
    assert result.returncode != 0
    assert "spotilytics.E001" in result.stderr
