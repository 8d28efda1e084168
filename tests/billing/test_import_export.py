"""Billing imports and exports: round trips, re-imports, and all-or-nothing on bad rows."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import Listener, Payment, PaymentStatus, Plan, RevenueChange, Subscription, Tier
from billing.resources import ListenerResource, PaymentResource, PlanResource, SubscriptionResource
from spotilytics.importing.exporting import csv_lines, export_rows
from spotilytics.importing.runner import import_file
from spotilytics.models import ImportLog
from spotilytics.roles import ANALYST, CATALOG_EDITOR, SUPPORT
from tests.factories import at, make_listener, make_payment, make_plan, make_subscription
from tests.spotilytics.test_export_admin import use_import_export_admin

pytestmark = pytest.mark.django_db


def _export(resource_class, queryset) -> bytes:
    resource = resource_class()
    headers = resource.get_export_headers()
    return b"".join(csv_lines(headers, export_rows(resource, queryset, None)))


def _import(resource_class, data: bytes, **kwargs):
    return import_file(resource_class=resource_class, data=data, file_name="billing.csv", **kwargs)


def _fingerprint() -> tuple[dict[str, int], str]:
    """Row counts and a hash of every row of every domain table (import logs aside)."""
    counts, digest = {}, hashlib.sha256()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label not in {"billing", "catalog", "analytics"}:
            continue
        rows = list(model.objects.order_by("pk").values_list())
        counts[model._meta.label] = len(rows)
        digest.update(repr(rows).encode())
    return counts, digest.hexdigest()


def test_listener_export_imports_back_identically():
    make_listener(
        email="ana@example.com", display_name='=HYPERLINK("http://x")', country="SE", birth_year=1990
    )
    make_listener(
        email="bo@example.com", display_name="-2 Bo", country="BR", signed_up_at=at(2026, 3, 1, 12, 30)
    )
    exported = _export(ListenerResource, Listener.objects.order_by("email"))
    Listener.objects.all().delete()

    outcome = _import(ListenerResource, exported)

    assert outcome.ok, outcome.problems
    assert outcome.created == 2
    assert _export(ListenerResource, Listener.objects.order_by("email")) == exported
    assert Listener.objects.get(email="ana@example.com").display_name == '=HYPERLINK("http://x")'


def test_listener_import_matches_emails_in_any_case():
    make_listener(email="ana@example.com", display_name="Ana")

    outcome = _import(
        ListenerResource, b"email,display_name,country,signed_up_at\nANA@Example.com,Ana B,SE,2026-01-01\n"
    )

    assert outcome.ok, outcome.problems
    assert (outcome.created, outcome.updated) == (0, 1)
    assert Listener.objects.get().display_name == "Ana B"


def test_plan_export_imports_back_and_a_second_import_changes_nothing():
    make_plan("free", tier=Tier.FREE, price="0")
    make_plan("premium-annual", price="119.88", billing_period="annual", trial_days=30)
    exported = _export(PlanResource, Plan.objects.order_by("code"))
    Plan.objects.all().delete()

    first = _import(PlanResource, exported)
    second = _import(PlanResource, exported)

    assert first.ok and first.created == 2
    assert (second.created, second.updated, second.skipped) == (0, 0, 2)
    assert _export(PlanResource, Plan.objects.order_by("code")) == exported
    assert Plan.objects.get(code="premium-annual").price == Decimal("119.88")


def test_subscription_export_imports_back_matched_by_listener_and_start():
    plan = make_plan()
    ana = make_listener(email="ana@example.com")
    make_subscription(
        ana, plan, started_at=at(2026, 1, 1), ended_at=at(2026, 2, 1), cancel_reason="too_expensive"
    )
    make_subscription(
        ana, plan, started_at=at(2026, 3, 1), trial_ends_at=at(2026, 3, 8), price=Decimal("5.49")
    )
    exported = _export(SubscriptionResource, Subscription.objects.order_by("started_at"))
    Subscription.objects.all().delete()

    first = _import(SubscriptionResource, exported)
    again = _import(SubscriptionResource, exported)

    assert first.ok and first.created == 2, first.problems
    assert (again.created, again.skipped) == (0, 2)

    def without_ids(data: bytes) -> list[list[str]]:
        return [line.split(",")[1:] for line in data.decode().splitlines()]

    assert without_ids(
        _export(SubscriptionResource, Subscription.objects.order_by("started_at"))
    ) == without_ids(exported)


def test_an_import_records_what_it_changes_for_the_revenue_rollups():
    plan = make_plan()
    ana = make_listener(email="ana@example.com")
    make_subscription(ana, plan, started_at=at(2026, 1, 1))
    exported = _export(SubscriptionResource, Subscription.objects.all())
    Subscription.objects.all().delete()
    RevenueChange.objects.all().delete()

    assert _import(SubscriptionResource, exported).created == 1
    assert list(RevenueChange.objects.values_list("listener_id", "since", "state")) == [
        (ana.id, at(2026, 1, 1), True)
    ]
    RevenueChange.objects.all().delete()
    assert _import(SubscriptionResource, exported).skipped == 1  # as it is: nothing to record
    assert not RevenueChange.objects.exists()


def test_subscription_without_price_takes_its_plans():
    make_plan("duo", tier=Tier.DUO, price="14.99")
    make_listener(email="ana@example.com")

    outcome = _import(
        SubscriptionResource, b"listener,plan,started_at\nana@example.com,duo,2026-01-01 00:00:00\n"
    )

    assert outcome.ok, outcome.problems
    assert Subscription.objects.get().price == Decimal("14.99")


def _payments_world():
    plan = make_plan()
    listeners = [make_listener(email=f"l{n}@example.com") for n in range(3)]
    subscriptions = [make_subscription(listener, plan, started_at=at(2025, 1, 1)) for listener in listeners]
    return listeners, subscriptions


def test_payment_export_imports_back_identically():
    _, (first, second, _) = _payments_world()
    make_payment(first, paid_at=at(2026, 1, 5, 9, 15), idempotency_key="+cmd|calc")
    make_payment(
        second,
        paid_at=at(2026, 1, 6),
        status=PaymentStatus.REFUNDED,
        refunded_at=at(2026, 1, 9),
        amount=Decimal("10.99"),
    )
    exported = _export(PaymentResource, Payment.objects.order_by("paid_at"))
    Payment.objects.all().delete()

    outcome = _import(PaymentResource, exported)

    assert outcome.ok, outcome.problems
    assert _export(PaymentResource, Payment.objects.order_by("paid_at")) == exported
    assert Payment.objects.get(paid_at=at(2026, 1, 5, 9, 15)).idempotency_key == "+cmd|calc"


def test_payment_whose_subscription_belongs_to_someone_else_is_refused():
    (ana, _, _), (_, bos_subscription, _) = _payments_world()
    text = (
        "idempotency_key,listener,subscription,amount,method,status,paid_at,period_start,period_end\n"
        f"k1,{ana.email},{bos_subscription.pk},10.99,card,succeeded,2026-01-01,2026-01-01,2026-02-01\n"
    )

    outcome = _import(PaymentResource, text.encode())

    assert [(p.line, p.column, p.message) for p in outcome.problems] == [
        (2, "subscription", f"subscription {bos_subscription.pk} belongs to another listener")
    ]


def _payment_line(
    key: str, email: str, subscription: int, *, amount: str = "10.99", paid_at: str = ""
) -> str:
    paid_at = paid_at or "2026-01-15 10:00:00"
    return f"{key},{email},{subscription},{amount},USD,card,succeeded,{paid_at},,2026-01-15,2026-02-15\n"


def test_thousand_row_file_with_bad_rows_at_start_middle_and_end_changes_nothing():
    listeners, subscriptions = _payments_world()
    # Existing payments the file would update if a partial import were possible.
    for n in range(5):
        make_payment(subscriptions[0], paid_at=at(2025, 6, 1), idempotency_key=f"pay-{n:04d}")
    before = _fingerprint()

    lines = [
        "idempotency_key,listener,subscription,amount,currency,method,status,paid_at,refunded_at,period_start,period_end\n"
    ]
    for n in range(1000):
        listener, subscription = listeners[n % 3], subscriptions[n % 3]
        lines.append(_payment_line(f"pay-{n:04d}", listener.email, subscription.pk, amount="12.50"))
    lines[1] = _payment_line(
        "pay-0000", listeners[0].email, subscriptions[0].pk, paid_at="2026-02-30 10:00:00"
    )
    lines[500] = _payment_line("pay-0499", listeners[1].email, subscriptions[1].pk, amount="12.3.4")
    lines[501] = _payment_line("pay-0500", "ghost@example.com", subscriptions[2].pk)
    lines[750] = _payment_line("pay-0009", listeners[0].email, subscriptions[0].pk)
    data = ("\ufeff" + "".join(lines)).encode()  # with a BOM, as our exports write
    data = data.replace(b"pay-0999", b"pay-\xff\xfe99")  # the last line, damaged

    outcome = _import(PaymentResource, data)

    assert not outcome.ok
    assert outcome.rows == 1000
    assert [(p.line, p.column) for p in outcome.problems] == [
        (1001, "idempotency_key"),
        (2, "paid_at"),
        (501, "amount"),
        (502, "listener"),
        (751, "idempotency_key"),
    ]
    messages = [p.message for p in outcome.problems]
    assert messages[0].startswith("contains bytes that are not valid UTF-8 text (0xFF 0xFE)")
    assert messages[1].startswith("'2026-02-30 10:00:00' is not a date and time")
    assert messages[2] == "'12.3.4' is not a number"
    assert messages[3] == "there is no listener with email 'ghost@example.com'"
    assert messages[4] == (
        "the idempotency_key 'pay-0009' is already on line 11; each payment may appear only once in a file"
    )
    assert _fingerprint() == before
    assert (outcome.created, outcome.updated) == (0, 0)
    assert ImportLog.objects.get().errors == 5


def test_the_same_thousand_rows_without_the_bad_ones_import_completely():
    listeners, subscriptions = _payments_world()
    text = "idempotency_key,listener,subscription,amount,method,status,paid_at,period_start,period_end\n"
    for n in range(1000):
        text += (
            f"p-{n},{listeners[n % 3].email},{subscriptions[n % 3].pk},9.99,paypal,failed,"
            "2026-01-15T10:00:00Z,2026-01-15,2026-02-15\n"
        )

    outcome = _import(PaymentResource, text.encode(), chunk_size=300)
    again = _import(PaymentResource, text.encode(), chunk_size=300)

    assert outcome.ok, outcome.problems[:3]
    assert (outcome.created, again.created, again.skipped) == (1000, 0, 1000)
    assert Payment.objects.count() == 1000
    assert Payment.objects.filter(listener=listeners[1]).count() == 333


def test_rows_the_database_refuses_name_the_rule_and_column():
    (ana, _, _), (subscription, _, _) = _payments_world()
    text = (
        "idempotency_key,listener,subscription,amount,method,status,paid_at,refunded_at,period_start,period_end\n"
        f"k1,{ana.email},{subscription.pk},0,card,succeeded,2026-01-01,,2026-01-01,2026-02-01\n"
        f"k2,{ana.email},{subscription.pk},5,card,succeeded,2026-01-01,2026-01-05,2026-01-01,2026-02-01\n"
    )

    outcome = _import(PaymentResource, text.encode())

    assert [(p.line, p.column, p.message) for p in outcome.problems] == [
        (2, "amount", "the amount must be more than 0"),
        (
            3,
            "refunded_at",
            "a refunded payment needs a refund date on or after the payment, "
            "and only refunded payments have one",
        ),
    ]
    assert Payment.objects.count() == 0


# --- Through the admin ----------------------------------------------------------------


@pytest.fixture
def admin_settings(settings):
    use_import_export_admin(settings)


def _upload(client, model: str, text: str):
    return client.post(
        reverse(f"admin:billing_{model}_import"),
        {"resource": "0", "format": "0", "import_file": SimpleUploadedFile(f"{model}.csv", text.encode())},
    )


def _confirm(client, model: str, preview):
    form = preview.context["confirm_form"]
    return client.post(
        reverse(f"admin:billing_{model}_process_import"),
        {name: form[name].value() or "" for name in form.fields},
    )


SAMPLES = {
    "listener": "email,display_name,country,signed_up_at\nnew@example.com,New,SE,2026-01-01\n",
    "plan": "code,name,tier,price\nstudent,Student,student,5.99\n",
    "subscription": "listener,plan,started_at\nl0@example.com,premium,2026-02-01\n",
    "payment": (
        "idempotency_key,listener,subscription,amount,method,status,paid_at,period_start,period_end\n"
        "k-1,l0@example.com,{subscription},10.99,card,succeeded,2026-01-02,2026-01-02,2026-02-02\n"
    ),
}


@pytest.mark.parametrize(
    ("role", "importable", "exportable"),
    [
        (SUPPORT, {"listener", "subscription", "payment"}, {"listener", "plan", "subscription", "payment"}),
        (ANALYST, set(), {"listener", "plan", "subscription", "payment"}),
        (CATALOG_EDITOR, set(), set()),
        (
            None,
            {"listener", "plan", "subscription", "payment"},
            {"listener", "plan", "subscription", "payment"},
        ),
    ],
)
def test_billing_import_and_export_follow_the_roles(
    admin_settings, client, staff_in_role, admin_user, role, importable, exportable
):
    _, (subscription, _, _) = _payments_world()
    Subscription.objects.filter(pk=subscription.pk).update(ended_at=at(2026, 1, 31))
    client.force_login(staff_in_role(role) if role else admin_user)

    for model in ("listener", "plan", "subscription", "payment"):
        text = SAMPLES[model].format(subscription=subscription.pk)
        preview = _upload(client, model, text)
        export_page = client.get(reverse(f"admin:billing_{model}_export"))

        assert preview.status_code == (200 if model in importable else 403), model
        assert export_page.status_code == (200 if model in exportable else 403), model
        if model in importable:
            assert preview.context["outcome"].ok, (model, preview.context["outcome"].problems)
            assert _confirm(client, model, preview).status_code == 302

    assert Listener.objects.filter(email="new@example.com").exists() == ("listener" in importable)
    assert Plan.objects.filter(code="student").exists() == ("plan" in importable)
    assert Subscription.objects.filter(started_at=at(2026, 2, 1)).exists() == ("subscription" in importable)
    assert Payment.objects.filter(idempotency_key="k-1").exists() == ("payment" in importable)


def test_subscription_confirmation_writes_nothing_when_a_listener_is_gone(admin_settings, client, admin_user):
    make_plan()
    make_listener(email="ana@example.com")
    bo = make_listener(email="bo@example.com")
    client.force_login(admin_user)
    text = "listener,plan,started_at\nana@example.com,premium,2026-02-01\nbo@example.com,premium,2026-02-01\n"
    preview = _upload(client, "subscription", text)
    bo.delete()

    response = _confirm(client, "subscription", preview)

    assert response.status_code == 200
    assert [(p.line, p.column, p.message) for p in response.context["outcome"].problems] == [
        (3, "listener", "there is no listener with email 'bo@example.com'")
    ]
    assert Subscription.objects.count() == 0


def _export_csv(client, url: str, fields: list[str] | None = None) -> list[list[str]]:
    form = client.get(url).context["form"]
    data = {"resource": "0", "format": "0"}
    for name, field in form.fields.items():
        if getattr(field, "is_selectable_field", False) and (
            fields is None or name.split("_", 1)[1] in fields
        ):
            data[name] = "on"
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body, newline="")))


def test_payment_export_follows_the_changelist_filters_search_and_column_choice(
    admin_settings, client, admin_user
):
    listeners, subscriptions = _payments_world()
    for n, status in enumerate([PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.FAILED]):
        make_payment(subscriptions[n], paid_at=at(2026, 1, 1 + n), status=status, idempotency_key=f"p{n}")
    client.force_login(admin_user)
    url = reverse("admin:billing_payment_export")

    failed = _export_csv(client, f"{url}?status__exact=failed")
    searched = _export_csv(client, f"{url}?q={listeners[2].email}", fields=["idempotency_key", "amount"])

    assert [row[0] for row in failed[1:]] == ["p2", "p1"]
    assert searched == [["idempotency_key", "amount"], ["p2", "10.99"]]
