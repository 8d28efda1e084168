"""The listening-event admin: view-only for everyone, and no full COUNT(*) of the table."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.models import ListeningEvent
from spotilytics.admin_tools import EstimatedCountPaginator, table_row_estimate
from tests.factories import at, make_event, make_listener, make_track
from tests.spotilytics.admin_helpers import admin_test_settings, admin_url

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="planner estimates are PostgreSQL's"
)
TABLE = ListeningEvent._meta.db_table


@pytest.fixture(autouse=True)
def _admin_over_http(settings):
    admin_test_settings(settings)


@pytest.fixture
def small_cap(monkeypatch):
    """Count at most 10 rows, so a few dozen events stand in for millions."""
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 10)


@pytest.fixture
def events():
    listener, other = make_listener(), make_listener()
    track = make_track()
    rows = [
        make_event(listener, played_at=at(2026, 1, 1 + day % 28, hour), track=track, device="mobile")
        for day in range(10)
        for hour in (8, 20)
    ]
    rows += [
        make_event(other, played_at=at(2026, 3, 1 + day), track=track, device="car") for day in range(10)
    ]
    return rows


def _table_counts(queries) -> list[str]:
    """Captured COUNT(*) queries that read the events table."""
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and TABLE in q["sql"]]


def test_event_admin_refuses_add_change_and_delete_even_to_superusers(admin_client, events):
    event = events[0]

    add = admin_client.get(admin_url(ListeningEvent, "add"))
    change = admin_client.post(admin_url(ListeningEvent, "change", event), {"ms_played": 1})
    delete = admin_client.post(admin_url(ListeningEvent, "delete", event), {"post": "yes"})
    view = admin_client.get(admin_url(ListeningEvent, "change", event))

    assert (add.status_code, change.status_code, delete.status_code, view.status_code) == (403, 403, 403, 200)
    event.refresh_from_db()
    assert event.ms_played == 180_000


def test_event_admin_changelist_has_no_actions_and_no_date_hierarchy(admin_client, events):
    response = admin_client.get(admin_url(ListeningEvent, "changelist"))

    changelist = response.context["cl"]
    assert changelist.date_hierarchy is None
    assert response.context["action_form"] is None
    assert changelist.show_full_result_count is False
    # Newest plays first, through the played_at index.
    assert (
        'ORDER BY "analytics_listeningevent"."played_at" DESC, "analytics_listeningevent"."id" DESC'
        in str(changelist.result_list.query)
    )


def test_event_admin_lists_few_rows_with_an_exact_count(admin_client, events):
    response = admin_client.get(admin_url(ListeningEvent, "changelist"))

    paginator = response.context["cl"].paginator
    assert (paginator.count, paginator.is_capped, paginator.is_estimate) == (30, False, False)
    assert "30 listening events" in " ".join(response.content.decode().split())


def test_event_admin_caps_the_count_of_a_filtered_list(admin_client, events, small_cap):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url(ListeningEvent, "changelist"), {"device": "mobile"})

    paginator = response.context["cl"].paginator
    assert (paginator.count, paginator.is_capped) == (11, True)
    assert "10,000+" not in paginator.count_label
    assert paginator.count_label == "10+"
    assert "10+ listening events" in " ".join(response.content.decode().split())
    [count_sql] = _table_counts(queries)
    assert re.search(r"LIMIT 11\b", count_sql)


def test_event_admin_filters_by_listener_and_played_at(admin_client, events):
    listener_id = events[0].listener_id

    response = admin_client.get(
        admin_url(ListeningEvent, "changelist"),
        {
            "listener__id__exact": listener_id,
            "played_at_from_0": "2026-01-05",
            "played_at_from_1": "00:00",
            "played_at_to_0": "2026-01-06",
            "played_at_to_1": "23:59",
        },
    )

    rows = list(response.context["cl"].result_list)
    assert [(row.listener_id, row.played_at) for row in rows] == [
        (listener_id, at(2026, 1, 6, 20)),
        (listener_id, at(2026, 1, 6, 8)),
        (listener_id, at(2026, 1, 5, 20)),
        (listener_id, at(2026, 1, 5, 8)),
    ]


def test_event_admin_reports_an_unreadable_date_filter_instead_of_ignoring_it(admin_client, events):
    response = admin_client.get(
        admin_url(ListeningEvent, "changelist"),
        {"played_at_from_0": "2026-13-45", "played_at_from_1": "00:00"},
        follow=True,
    )

    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1
    assert messages[0].startswith("The played at filter was not applied: Enter a valid date")
    assert response.context["cl"].paginator.count == 30


def test_event_admin_never_estimates_on_sqlite(events, small_cap):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite behaviour")
    paginator = EstimatedCountPaginator(ListeningEvent.objects.all(), 5)

    assert table_row_estimate(ListeningEvent) is None
    assert (paginator.count, paginator.is_capped, paginator.is_estimate) == (11, True, False)


@postgres_only
def test_event_admin_unfiltered_count_uses_the_planner_estimate(admin_client, events, small_cap):
    with connection.cursor() as cursor:
        # ANALYZE counts this transaction's own new rows as live; 30 rows, estimate 30.
        cursor.execute(f"ANALYZE {TABLE}")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url(ListeningEvent, "changelist"))

    paginator = response.context["cl"].paginator
    assert (paginator.count, paginator.is_estimate, paginator.is_capped) == (30, True, False)
    assert "about 30 listening events" in " ".join(response.content.decode().split())
    assert _table_counts(queries) == []
    assert any("reltuples" in q["sql"] for q in queries)


@postgres_only
def test_event_admin_filtered_count_on_postgres_is_a_limited_subquery(admin_client, events, small_cap):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(admin_url(ListeningEvent, "changelist"), {"device": "car"})

    paginator = response.context["cl"].paginator
    assert (paginator.count, paginator.is_estimate, paginator.is_capped) == (10, False, False)
    [count_sql] = _table_counts(queries)
    assert re.search(r"LIMIT 11\b", count_sql)
    assert not any("reltuples" in q["sql"] for q in queries)


@postgres_only
def test_event_admin_estimate_falls_back_to_counting_below_the_cap(events):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")

    paginator = EstimatedCountPaginator(ListeningEvent.objects.all(), 5)

    assert table_row_estimate(ListeningEvent) == 30
    assert (paginator.count, paginator.is_estimate, paginator.is_capped) == (30, False, False)


def test_event_admin_registers_raw_id_fields_for_its_big_foreign_keys():
    model_admin = admin.site._registry[ListeningEvent]

    assert set(model_admin.raw_id_fields) == {"listener", "track", "episode", "playlist"}
