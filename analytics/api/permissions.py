"""Who may read what: the same rules as the KPI pages in the admin.

Every endpoint needs an active staff user (sessions and tokens alike, as the pages
do); KPI data also needs `analytics.view_kpis`, a listener's history needs
`billing.view_listener` and `billing.view_payment`.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

KPI_PERMISSION = "analytics.view_kpis"
LISTENER_PERMISSIONS = ("billing.view_listener", "billing.view_payment")


class IsActiveStaff(BasePermission):
    message = "The API is for staff users only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class _StaffWithPermissions(IsActiveStaff):
    permissions: tuple[str, ...] = ()

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and request.user.has_perms(self.permissions)


class CanViewKpis(_StaffWithPermissions):
    message = f"You need the permission {KPI_PERMISSION} (the Analyst role has it) to read KPIs."
    permissions = (KPI_PERMISSION,)


class CanViewListeners(_StaffWithPermissions):
    message = f"You need the permissions {' and '.join(LISTENER_PERMISSIONS)} to read a listener's history."
    permissions = LISTENER_PERMISSIONS
