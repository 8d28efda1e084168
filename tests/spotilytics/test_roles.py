"""Each staff role against each kind of admin page, with literal status codes.

The groups come from the roles data migration (`spotilytics.roles`), so these tests
check the table that production databases get.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from analytics.models import Experiment, ListeningEvent
from billing.models import Listener, Payment, Subscription
from catalog.models import Artist
from tests.spotilytics.admin_helpers import admin_test_settings, admin_url, build_world

pytestmark = pytest.mark.django_db

PAGES = ("changelist", "add", "change", "delete")
NONE = (403, 403, 403, 403)
VIEW_ONLY = (200, 403, 200, 403)
# role -> model -> status of (changelist, add, change, delete)
EXPECTED: dict[str, dict[type, tuple[int, int, int, int]]] = {
    "Analyst": {
        Artist: VIEW_ONLY,
        Listener: VIEW_ONLY,
        Subscription: VIEW_ONLY,
        Payment: VIEW_ONLY,
        ListeningEvent: VIEW_ONLY,
        Experiment: VIEW_ONLY,
    },
    "Support": {
        Artist: NONE,
        Listener: (200, 200, 200, 403),
        Subscription: (200, 200, 200, 403),
        Payment: (200, 200, 200, 403),  # add: Support imports payment ledgers
        ListeningEvent: NONE,
        Experiment: NONE,
    },
    "Catalog editor": {
        Artist: (200, 200, 200, 200),
        Listener: NONE,
        Subscription: NONE,
        Payment: NONE,
        ListeningEvent: NONE,
        Experiment: NONE,
    },
}
CASES = [
    pytest.param(role, model, page, codes[index], id=f"{role}-{model._meta.model_name}-{page}")
    for role, models in EXPECTED.items()
    for model, codes in models.items()
    for index, page in enumerate(PAGES)
]


@pytest.fixture(autouse=True)
def _admin_over_http(settings):
    admin_test_settings(settings)


@pytest.fixture
def world():
    return build_world()


def _page(model, page, world) -> str:
    return admin_url(model, page, world[model] if page in ("change", "delete") else None)


@pytest.mark.parametrize(("role", "model", "page", "status"), CASES)
def test_role_gets_the_expected_status(client, staff_in_role, world, role, model, page, status):
    client.force_login(staff_in_role(role))

    response = client.get(_page(model, page, world))

    assert response.status_code == status


@pytest.mark.parametrize("model", [Artist, Listener, Payment, ListeningEvent])
@pytest.mark.parametrize("page", PAGES)
def test_role_anonymous_is_sent_to_the_login(client, world, model, page):
    url = _page(model, page, world)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


def test_role_staff_without_a_role_sees_nothing(client, django_user_model, world):
    client.force_login(django_user_model.objects.create_user("nobody", password="pw-nobody-1", is_staff=True))

    codes = [
        client.get(_page(model, page, world)).status_code for model in (Artist, Listener) for page in PAGES
    ]

    assert codes == [403] * 8


def test_role_analyst_change_page_is_read_only(client, staff_in_role, world):
    client.force_login(staff_in_role("Analyst"))
    listener = world[Listener]
    url = admin_url(Listener, "change", listener)

    page = client.get(url)
    post = client.post(url, {"display_name": "Renamed", "email": listener.email})

    assert page.context["has_change_permission"] is False
    assert post.status_code == 403
    listener.refresh_from_db()
    assert listener.display_name != "Renamed"


def test_role_permissions_for_kpis_and_refunds(staff_in_role):
    analyst, support, editor = (staff_in_role(role) for role in ("Analyst", "Support", "Catalog editor"))

    assert [user.has_perm("analytics.view_kpis") for user in (analyst, support, editor)] == [
        True,
        False,
        False,
    ]
    assert [user.has_perm("billing.refund_payment") for user in (analyst, support, editor)] == [
        False,
        True,
        False,
    ]


def test_role_groups_are_the_three_roles():
    assert sorted(Group.objects.values_list("name", flat=True)) == ["Analyst", "Catalog editor", "Support"]


def test_role_support_sees_the_refund_action_and_the_analyst_does_not(client, staff_in_role, world):
    offered = {}
    for role in ("Support", "Analyst"):
        client.force_login(staff_in_role(role))
        action_form = client.get(admin_url(Payment, "changelist")).context["action_form"]
        offered[role] = (
            [] if action_form is None else [name for name, _ in action_form.fields["action"].choices]
        )

    assert offered == {"Support": ["", "refund_payments"], "Analyst": []}
