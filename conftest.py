"""Project-wide pytest fixtures."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group


@pytest.fixture
def staff_in_role(django_user_model):
    """Build a staff user belonging to one of the role groups: `staff_in_role("Analyst")`."""

    def build(role: str, username: str | None = None):
        user = django_user_model.objects.create_user(
            username or role.lower().replace(" ", "-"), password="pw-role-123", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return build


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Tests run with DEBUG off, where the manifest storage would need `collectstatic`."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
