"""Small database helpers shared by the apps' models."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


def exactly_one_of(a: str, b: str, *, name: str) -> models.CheckConstraint:
    """A check constraint: exactly one of two nullable foreign keys is set."""
    return models.CheckConstraint(
        condition=(Q(**{f"{a}__isnull": False}) & Q(**{f"{b}__isnull": True}))
        | (Q(**{f"{a}__isnull": True}) & Q(**{f"{b}__isnull": False})),
        name=name,
    )
