"""One error body for every failure of the API: `{"error": "...", "parameter": "..."}`.

`parameter` names the query or path parameter at fault, or is null when the problem is
not one parameter (authentication, permission, throttling, an unknown route).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class BadParameter(exceptions.APIException):
    """A query or path parameter the API cannot use: 400 naming the parameter."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, parameter: str | None, *, status_code: int | None = None) -> None:
        super().__init__(detail=message)
        self.parameter = parameter
        if status_code is not None:
            self.status_code = status_code


def not_found(message: str, parameter: str) -> BadParameter:
    return BadParameter(message, parameter, status_code=status.HTTP_404_NOT_FOUND)


def _first_message(detail: Any) -> tuple[str | None, str]:
    """The first (field, message) of a DRF error detail, however deeply nested."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field, message = _first_message(value)
            return (None if key in ("detail", "non_field_errors") else key) or field, message
        return None, ""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else (None, "")
    return None, str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, `WWW-Authenticate`, `Retry-After`), with our body."""
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a bug, left to Django's 500 handling
    field, message = _first_message(response.data)
    response.data = {"error": message, "parameter": getattr(exc, "parameter", None) or field}
    return response
