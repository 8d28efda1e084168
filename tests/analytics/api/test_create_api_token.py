"""`manage.py create_api_token USERNAME`: creates or prints the user's token."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from tests.analytics.api.conftest import token_header

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_token_creates_a_token_that_authenticates(analyst, client):
    out, err = _run(analyst.username)
    key = out.strip()
    assert Token.objects.get(user=analyst).key == key
    assert err == "Created a new API token for analyst.\n"
    assert client.get("/api/kpis/", headers=token_header(key)).status_code == 200


def test_create_api_token_prints_the_existing_token_again(analyst):
    first, _ = _run(analyst.username)
    second, err = _run(analyst.username)
    assert first == second
    assert Token.objects.filter(user=analyst).count() == 1
    assert err == "Printed the existing API token for analyst.\n"


def test_create_api_token_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        _run("nobody")
    assert not Token.objects.exists()


def test_create_api_token_warns_when_the_api_would_refuse_the_user(django_user_model, support):
    outsider = django_user_model.objects.create_user("outsider")
    _, err = _run(outsider.username)
    assert "outsider is not active staff: the API will answer 403 until they are." in err
    _, err = _run(support.username)
    assert "support lacks analytics.view_kpis: KPI endpoints will answer 403." in err
