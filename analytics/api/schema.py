"""OpenAPI pieces shared by the API views: error responses, the session security scheme,
and the KPI endpoint's parameters (its slugs come from the registry when the schema is
generated, so a new KPI appears without touching this file)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from analytics.api.serializers import ErrorSerializer
from analytics.kpis.registry import FAMILIES, GRAINS, all_kpis
from analytics.models import Device
from billing.regions import Region

_ERRORS = {
    400: "A parameter is invalid; `parameter` names it.",
    401: "No credentials, or a bad token (the `WWW-Authenticate` header names the scheme).",
    403: "Authenticated, but not active staff holding the permission this endpoint needs.",
    404: "Nothing at this path; `parameter` names the path parameter.",
    429: "Too many requests with this token; `Retry-After` says when to retry.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses every endpoint may give (401, 403, 429), plus the ones named."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERRORS[code])
        for code in sorted({*codes, 401, 403, 429})
    }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    """The admin's session cookie, as drf-spectacular describes DRF's own session auth."""

    target_class = "analytics.api.authentication.StaffSessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def family_parameter() -> OpenApiParameter:
    return OpenApiParameter("family", str, enum=list(FAMILIES), description="Only the KPIs of this family.")


KPI_FILTER_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day included. Default: 11 months before this month."
    ),
    OpenApiParameter("end", OpenApiTypes.DATE, description="First day not included. Default: tomorrow."),
    OpenApiParameter(
        "country", str, pattern="^[A-Za-z]{2}$", description="Listener country, ISO 3166 alpha-2 (SE)."
    ),
    OpenApiParameter("region", str, enum=list(Region.values), description="Listener region."),
    OpenApiParameter("plan", str, description="A plan code, e.g. premium."),
    OpenApiParameter("device", str, enum=list(Device.values), description="Playback device."),
    OpenApiParameter("genre", int, description="A genre id."),
    OpenApiParameter("grain", str, enum=list(GRAINS), description="Bucket size of a series."),
    OpenApiParameter(
        "compare", str, enum=["previous"], description="Also compute the previous period of the same length."
    ),
]


class KpiDataSchema(AutoSchema):
    """The KPI endpoint's `slug` is one of the registered KPIs, read when the schema is built."""

    def get_override_parameters(self) -> list[OpenApiParameter]:
        slug = OpenApiParameter(
            "slug",
            str,
            OpenApiParameter.PATH,
            enum=sorted(kpi.slug for kpi in all_kpis()),
            description="A KPI slug, as `GET /api/kpis/` lists them.",
        )
        return [*super().get_override_parameters(), slug]
