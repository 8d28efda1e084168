"""`manage.py demo_login`: a known superuser for local demos, never with DEBUG off."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def _demo_login(*args: str) -> str:
    out = StringIO()
    call_command("demo_login", *args, stdout=out)
    return out.getvalue()


def test_demo_login_creates_a_superuser_and_prints_the_login(settings):
    settings.DEBUG = True

    output = _demo_login()

    user = User.objects.get(username="demo")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert authenticate(username="demo", password="spotilytics-demo") == user
    assert output.splitlines() == [
        "Created the demo superuser.",
        "  Login:    http://127.0.0.1:8000/admin/",
        "  Username: demo",
        "  Password: spotilytics-demo",
    ]


def test_demo_login_resets_an_existing_demo_user(settings):
    settings.DEBUG = True
    User.objects.create_user("demo", password="forgotten-pw-1", is_staff=False, is_active=False)

    output = _demo_login("--password", "another-demo-pw")

    user = User.objects.get(username="demo")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert authenticate(username="demo", password="another-demo-pw") == user
    assert authenticate(username="demo", password="forgotten-pw-1") is None
    assert output.splitlines()[0] == "Reset the demo superuser."
    assert User.objects.count() == 1


def test_demo_login_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match=r"only runs with DEBUG=1\. Use --force"):
        _demo_login()

    assert not User.objects.filter(username="demo").exists()


def test_demo_login_runs_with_debug_off_when_forced(settings):
    settings.DEBUG = False

    _demo_login("--force")

    assert authenticate(username="demo", password="spotilytics-demo") is not None


def test_demo_login_refuses_an_empty_password(settings):
    settings.DEBUG = True

    with pytest.raises(CommandError, match="--password must not be empty"):
        _demo_login("--password", " ")

    assert not User.objects.filter(username="demo").exists()
