"""Every registered admin page opens for a superuser, with a constant number of queries."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin as UnfoldModelAdmin

from analytics.models import ListeningEvent
from billing.models import Listener
from spotilytics.admin_tools import RollupAdmin
from spotilytics.models import ImportLog
from tests.factories import at, make_event, make_payment
from tests.spotilytics.admin_helpers import admin_test_settings, admin_url, build_world, registered_models

pytestmark = pytest.mark.django_db

# Rows the system writes: viewable, never added or changed, not even by a superuser.
# Rollup tables without a hand-written admin get a `RollupAdmin` from register_rollups.
# Rows only the system writes: events, rollups and the import log.
READ_ONLY = {ListeningEvent, ImportLog} | {
    model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, RollupAdmin)
}
MODELS = registered_models()


@pytest.fixture(autouse=True)
def _admin_over_http(settings):
    admin_test_settings(settings)


@pytest.fixture
def world():
    return build_world()


def test_admin_registers_every_model_of_the_apps_but_the_composite_keyed():
    own_models = [
        model
        for label in ("catalog", "billing", "analytics")
        for model in apps.get_app_config(label).get_models()
    ]

    missing = [model._meta.label for model in own_models if model not in admin.site._registry]

    # Django's admin refuses a composite primary key: only the largest stream counts have one.
    assert sorted(missing) == [
        "catalog.AlbumStreams",
        "catalog.ArtistStreams",
        "catalog.TrackCountryStreams",
        "catalog.TrackStreams",
    ]


def test_admin_uses_unfold_for_every_model():
    plain = [
        model._meta.label for model in MODELS if not isinstance(admin.site._registry[model], UnfoldModelAdmin)
    ]

    assert plain == []
    assert {User, Group, TokenProxy} <= set(MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_admin_changelist_opens(admin_client, world, model):
    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_admin_add_page_opens_unless_read_only(admin_client, model):
    response = admin_client.get(admin_url(model, "add"))

    assert response.status_code == (403 if model in READ_ONLY else 200)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_admin_change_page_opens(admin_client, world, model):
    response = admin_client.get(admin_url(model, "change", world[model]))

    assert response.status_code == 200
    assert response.context["original"].pk == world[model].pk


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_admin_changelist_queries_do_not_grow_with_rows(admin_client, world, model):
    url = admin_url(model, "changelist")
    admin_client.get(url)  # warm caches (content types, sessions) out of the count
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    build_world()
    build_world()

    with CaptureQueriesContext(connection) as three_rows:
        response = admin_client.get(url)

    assert len(response.context["cl"].result_list) >= 3
    assert len(three_rows) == len(one_row), [query["sql"] for query in three_rows]


def test_admin_changelists_stay_within_a_few_queries(admin_client, django_assert_max_num_queries):
    for _ in range(5):
        build_world()
    admin_client.get(admin_url(Listener, "changelist"))

    for model in MODELS:
        # Session, user, count, page and the filters' choice lists; never one per row.
        with django_assert_max_num_queries(10):
            admin_client.get(admin_url(model, "changelist"))


def test_admin_listener_change_page_shows_listening_summary(admin_client, world):
    listener = world[Listener]
    subscription = listener.subscriptions.get()
    make_payment(subscription, paid_at=at(2026, 2, 1))
    make_event(
        listener,
        played_at=at(2026, 1, 5, 9),
        track=world[ListeningEvent].track,
        ms_played=10_000,
        skipped=True,
    )

    response = admin_client.get(admin_url(Listener, "change", listener))

    summary = response.context["listening_summary"]
    assert (summary.events, summary.streams, summary.skip_rate) == (2, 1, 0.5)
    body = response.content.decode()
    assert 'id="listening-summary"' in body
    assert world[ListeningEvent].track.title in body
    # The subscriptions and payments inlines list the listener's history.
    assert [formset.formset.prefix for formset in response.context["inline_admin_formsets"]] == [
        "subscriptions",
        "payments",
    ]
    assert response.context["inline_admin_formsets"][1].formset.queryset.count() == 2
