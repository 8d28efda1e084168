"""Fixtures of the API tests: a hand-built dataset, the users of the auth matrix, clients.

The dataset (UTC, the default reporting zone; today is 2026-03-20, a Friday):

Plans: Free (0), Premium (10.99), Duo (14.99), ordered by price.
Listeners and their subscriptions now:
    se  SE  Premium since Jan 5                       -> Premium
    us  US  Duo since Feb 1                           -> Duo
    br  BR  no subscription                           -> Free
    de  DE  Free plan since Feb 15                    -> Free
    fr  FR  Premium Jan 1 .. Feb 20 (ended)           -> Free
Payments (paid_at):
    p7 fr Premium 10.99 card       succeeded  Jan 1 08:00   <- the first payment
    p1 se Premium 10.99 card       succeeded  Jan 5 10:00
    p8 fr Premium 10.99 card       succeeded  Feb 1 08:00
    p5 us Duo     14.99 paypal     succeeded  Feb 1 12:00
    p2 se Premium 10.99 card       succeeded  Feb 5 10:00
    p6 us Duo     14.99 apple_pay  refunded   Mar 1 12:00 (refund Mar 3)
    p3 se Premium 10.99 card       failed     Mar 5 10:00
    p4 se Premium 10.99 paypal     succeeded  Mar 6 09:00
Tracks: Alpha (Ada, Pop, 200 s), Beta (Bo, Rock, 240 s), Gamma (Bo, Pop, 180 s), created
in that order (ids ascending); genre Jazz has no track. Podcast episode "Pilot" (30 min).
Plays (ms played; a stream is 30 000 ms or more):
    e0 fr Gamma  2025-12-15 12:00  180 000   <- the first event
    e1 se Alpha  Jan 10 10:00  200 000
    e2 se Beta   Jan 10 10:05  120 000
    e3 us Alpha  Jan 20 20:00  250 000 (longer than the track: progress capped at 1)
    e4 us Gamma  Feb 3 08:00    45 000
    e5 se Gamma  Feb 10 09:00   18 000 skipped (not a stream)
    e6 br Beta   Feb 11 12:00   60 000
    e7 br Alpha  Mar 2 07:00   100 000
    e8 se Alpha  Mar 3 18:00    30 000 (exactly 30 s: a stream)
    e9 se Pilot  Mar 4 06:00   900 000 (an episode: no track, no genre)
    e10 de Beta  Mar 10 15:00  240 000
Ratings (Feb 1): Alpha 5,5,4,4,5 (mean 4.6); Beta 3,3,4,2,3 (mean 3.0); Gamma 5,5,5,5
(4 votes: under the 5-vote threshold, but part of the overall mean C).
"""

from __future__ import annotations

import importlib.util
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from billing.models import PaymentStatus, Tier
from catalog.models import Album, Rating
from spotilytics.roles import ANALYST, SUPPORT
from tests.factories import (
    at,
    make_artist,
    make_episode,
    make_event,
    make_genre,
    make_listener,
    make_payment,
    make_plan,
    make_subscription,
    make_track,
)

TODAY = date(2026, 3, 20)


@pytest.fixture(autouse=True)
def _api_environment(settings, monkeypatch):
    """Plain HTTP (tests run with DEBUG off, which redirects to HTTPS), "today" is TODAY,
    no throttle history from an earlier test, and a fast password hasher: the users of
    the auth matrix are created in every test."""
    settings.SECURE_SSL_REDIRECT = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    cache.clear()
    yield
    cache.clear()


def refresh_rollups(today: date = TODAY) -> None:
    """Fill every rollup the KPIs read, as `refresh_rollups --full` does."""
    modules = ["analytics.rollups", "catalog.rollups", "billing.rollups"]
    for name in modules:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).refresh(since=None, full=True, today=today)


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    """The dataset above, built once per test module in a transaction that is rolled back
    at the module's end. Each test runs in a savepoint inside it (pytest-django's `db`),
    so what a test writes is still undone after the test."""
    with django_db_blocker.unblock(), transaction.atomic():
        data = _build_dataset()
        yield data
        transaction.set_rollback(True)


def _build_dataset() -> dict[str, Any]:
    free = make_plan("free", tier=Tier.FREE, price="0")
    premium = make_plan("premium", price="10.99")
    duo = make_plan("duo", tier=Tier.DUO, price="14.99")

    se = make_listener(country="SE", signed_up_at=at(2026, 1, 1))
    us = make_listener(country="US", signed_up_at=at(2026, 1, 10))
    br = make_listener(country="BR", signed_up_at=at(2026, 2, 1))
    de = make_listener(country="DE", signed_up_at=at(2026, 2, 15))
    fr = make_listener(country="FR", signed_up_at=at(2025, 12, 1))

    se_premium = make_subscription(se, premium, started_at=at(2026, 1, 5))
    us_duo = make_subscription(us, duo, started_at=at(2026, 2, 1))
    make_subscription(de, free, started_at=at(2026, 2, 15))
    fr_premium = make_subscription(fr, premium, started_at=at(2026, 1, 1), ended_at=at(2026, 2, 20))

    make_payment(fr_premium, paid_at=at(2026, 1, 1, 8))
    make_payment(se_premium, paid_at=at(2026, 1, 5, 10))
    make_payment(fr_premium, paid_at=at(2026, 2, 1, 8))
    make_payment(us_duo, paid_at=at(2026, 2, 1, 12), method="paypal")
    make_payment(se_premium, paid_at=at(2026, 2, 5, 10))
    make_payment(
        us_duo,
        paid_at=at(2026, 3, 1, 12),
        method="apple_pay",
        status=PaymentStatus.REFUNDED,
        refunded_at=at(2026, 3, 3),
    )
    make_payment(se_premium, paid_at=at(2026, 3, 5, 10), status=PaymentStatus.FAILED)
    make_payment(se_premium, paid_at=at(2026, 3, 6, 9), method="paypal")

    pop, rock = make_genre("Pop"), make_genre("Rock")
    make_genre("Jazz")
    ada, bo = make_artist("Ada"), make_artist("Bo")
    ada_album = Album.objects.create(title="A1", artist=ada)
    bo_album = Album.objects.create(title="B1", artist=bo)
    alpha = make_track("Alpha", artist=ada, genre=pop, album=ada_album, duration_ms=200_000)
    beta = make_track("Beta", artist=bo, genre=rock, album=bo_album, duration_ms=240_000)
    gamma = make_track("Gamma", artist=bo, genre=pop, album=bo_album, duration_ms=180_000)
    pilot = make_episode(title="Pilot", duration_ms=1_800_000)

    make_event(fr, track=gamma, played_at=at(2025, 12, 15, 12), ms_played=180_000)
    make_event(se, track=alpha, played_at=at(2026, 1, 10, 10), ms_played=200_000)
    make_event(se, track=beta, played_at=at(2026, 1, 10, 10, 5), ms_played=120_000)
    make_event(us, track=alpha, played_at=at(2026, 1, 20, 20), ms_played=250_000)
    make_event(us, track=gamma, played_at=at(2026, 2, 3, 8), ms_played=45_000)
    make_event(se, track=gamma, played_at=at(2026, 2, 10, 9), ms_played=18_000, skipped=True)
    make_event(br, track=beta, played_at=at(2026, 2, 11, 12), ms_played=60_000)
    make_event(br, track=alpha, played_at=at(2026, 3, 2, 7), ms_played=100_000)
    make_event(se, track=alpha, played_at=at(2026, 3, 3, 18), ms_played=30_000)
    make_event(se, track=None, episode=pilot, played_at=at(2026, 3, 4, 6), ms_played=900_000)
    make_event(de, track=beta, played_at=at(2026, 3, 10, 15), ms_played=240_000)

    listeners = [se, us, br, de, fr]
    for track, scores in ((alpha, [5, 5, 4, 4, 5]), (beta, [3, 3, 4, 2, 3]), (gamma, [5, 5, 5, 5])):
        for listener, score in zip(listeners, scores, strict=False):
            Rating.objects.create(listener=listener, track=track, score=score, rated_at=at(2026, 2, 1))

    refresh_rollups()
    return {
        "se": se,
        "us": us,
        "br": br,
        "de": de,
        "fr": fr,
        "pop": pop,
        "rock": rock,
        "alpha": alpha,
        "premium": premium,
    }


# Users of the auth matrix.


@pytest.fixture
def analyst(staff_in_role):
    return staff_in_role(ANALYST)


@pytest.fixture
def support(staff_in_role):
    return staff_in_role(SUPPORT)


@pytest.fixture
def staff_without_permission(django_user_model):
    return django_user_model.objects.create_user("plain-staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def analyst_not_staff(django_user_model):
    """Holds the KPI permission but is not staff: the API, like the pages, refuses."""
    user = django_user_model.objects.create_user("outsider", password="pw-outsider-123")
    user.user_permissions.add(Permission.objects.get(codename="view_kpis"))
    return user


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def analyst_token(analyst) -> str:
    return Token.objects.create(user=analyst).key


def token_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}
