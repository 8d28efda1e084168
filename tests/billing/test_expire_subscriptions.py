"""`manage.py expire_subscriptions`, driven through call_command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Subscription, Tier
from billing.services import subscription_renew, subscription_start
from tests.factories import at, make_listener, make_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def lapsed():
    """Two subscriptions lapsed by 2026-02-10 (a trial, a failed renewal) and one paid up."""
    premium = make_plan("premium", price="10.99", trial_days=30)
    duo = make_plan("duo", tier=Tier.DUO, price="14.99")
    ada, bo, cy = (make_listener(email=f"{name}@example.com") for name in ("ada", "bo", "cy"))
    trial = subscription_start(listener=ada, plan=premium, at=at(2026, 1, 1))
    failed = subscription_start(listener=bo, plan=duo, at=at(2026, 1, 5))
    subscription_renew(subscription=failed, at=at(2026, 2, 5), succeeded=False)
    paid = subscription_start(listener=cy, plan=duo, at=at(2026, 1, 20))
    return trial, failed, paid


def _run(*args: str) -> str:
    out = StringIO()
    call_command("expire_subscriptions", *args, stdout=out)
    return out.getvalue()


def test_expire_subscriptions_prints_each_expired_subscription_and_a_summary(lapsed):
    trial, failed, paid = lapsed

    output = _run("--at", "2026-02-10T00:00:00Z")

    assert output.splitlines() == [
        f"Expired subscription #{trial.pk} of ada@example.com on Premium: "
        "ended at 2026-01-31T00:00:00+00:00 (other)",
        f"Expired subscription #{failed.pk} of bo@example.com on Duo: "
        "ended at 2026-02-05T00:00:00+00:00 (payment_failed)",
        "Expired 2 subscription(s) as of 2026-02-10T00:00:00+00:00.",
    ]
    ended = dict(Subscription.objects.values_list("pk", "ended_at"))
    assert ended == {trial.pk: at(2026, 1, 31), failed.pk: at(2026, 2, 5), paid.pk: None}


def test_expire_subscriptions_second_run_changes_nothing(lapsed):
    _run("--at", "2026-02-10T00:00:00Z")
    before = list(Subscription.objects.order_by("pk").values())

    output = _run("--at", "2026-02-10T00:00:00Z")

    assert output.splitlines() == ["Expired 0 subscription(s) as of 2026-02-10T00:00:00+00:00."]
    assert list(Subscription.objects.order_by("pk").values()) == before


def test_expire_subscriptions_dry_run_lists_but_changes_nothing(lapsed):
    trial, failed, _ = lapsed

    output = _run("--at", "2026-02-10T00:00:00Z", "--dry-run")

    assert output.splitlines() == [
        f"Would expire subscription #{trial.pk} of ada@example.com on Premium: "
        "ended at 2026-01-31T00:00:00+00:00 (other)",
        f"Would expire subscription #{failed.pk} of bo@example.com on Duo: "
        "ended at 2026-02-05T00:00:00+00:00 (payment_failed)",
        "Would expire 2 subscription(s) as of 2026-02-10T00:00:00+00:00 (dry run, nothing changed).",
    ]
    assert Subscription.objects.filter(ended_at__isnull=False).count() == 0


def test_expire_subscriptions_reads_a_time_without_offset_in_the_reporting_time_zone(lapsed, settings):
    settings.TIME_ZONE = "America/New_York"

    # 2026-01-30 20:00 in New York is 2026-01-31 01:00 UTC: past the trial's end.
    output = _run("--at", "2026-01-30 20:00")

    assert output.splitlines()[-1] == "Expired 1 subscription(s) as of 2026-01-30T20:00:00-05:00."
    assert Subscription.objects.get(pk=lapsed[0].pk).ended_at == at(2026, 1, 31)


def test_expire_subscriptions_defaults_to_now():
    premium = make_plan("premium", price="10.99", trial_days=30)
    # A trial that ended years ago and one that ends a century from now.
    past = subscription_start(listener=make_listener(), plan=premium, at=at(2020, 1, 1))
    future = subscription_start(listener=make_listener(), plan=premium, at=at(2126, 1, 1))

    output = _run()

    assert output.splitlines()[-1].startswith("Expired 1 subscription(s) as of ")
    ended = dict(Subscription.objects.values_list("pk", "ended_at"))
    assert ended == {past.pk: at(2020, 1, 31), future.pk: None}


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01T00:00:00Z", ""])
def test_expire_subscriptions_refuses_a_bad_at(lapsed, raw):
    with pytest.raises(CommandError, match="--at must be an ISO 8601 date-time"):
        _run("--at", raw)
    assert Subscription.objects.filter(ended_at__isnull=False).count() == 0
