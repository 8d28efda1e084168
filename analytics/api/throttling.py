"""Rate limit for scripts: token-authenticated requests only (scope `token`).

Staff browsing with their session are not limited. The rate is
`REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["token"]` (environment variable
`API_TOKEN_THROTTLE_RATE`, e.g. `600/minute`).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from analytics.api.authentication import ApiTokenAuthentication


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self) -> str | None:
        # DRF copies the rates into a class attribute at import; reading the settings per
        # request lets a changed setting (or a test's override_settings) take effect.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(
                f"Set REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['{self.scope}'] (API_TOKEN_THROTTLE_RATE)."
            ) from None

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not isinstance(request.successful_authenticator, ApiTokenAuthentication):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
