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


class ChangeTrackedQuerySet(models.QuerySet):
    """The rows of a table the rollups read: bulk writes, which send no signals, record
    that the table changed (`analytics.rollups.sources`), as saves and deletes do.
    (`bulk_update` writes through `update`.)"""

    def update(self, **kwargs) -> int:
        rows = super().update(**kwargs)
        if rows:
            self._changed()
        return rows

    def bulk_create(self, objs, *args, **kwargs) -> list:
        created = super().bulk_create(objs, *args, **kwargs)
        if created:
            self._changed()
        return created

    def _changed(self) -> None:
        from analytics.rollups.sources import mark_changed  # analytics' models import these apps'

        mark_changed(self.model, using=self.db)
