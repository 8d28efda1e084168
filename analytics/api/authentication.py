"""How API clients prove who they are: a token for scripts, the admin session for a browser.

Both send a `WWW-Authenticate` challenge, so an anonymous request is answered 401 (DRF
answers 403 when the first authentication class has no challenge, as DRF's own session
authentication has none).
"""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

TOKEN_KEYWORD = "Token"
CHALLENGE = f'{TOKEN_KEYWORD} realm="Spotilytics API"'


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; tokens are created in the admin or with
    `manage.py create_api_token USERNAME`."""

    keyword = TOKEN_KEYWORD

    def authenticate_header(self, request: Request) -> str:
        return CHALLENGE


class StaffSessionAuthentication(SessionAuthentication):
    """The admin's login session (CSRF-checked on unsafe methods, as in DRF)."""

    def authenticate_header(self, request: Request) -> str:
        # A browser cannot answer a Token challenge, but the 401 must carry one;
        # the docs page sends anonymous visitors to the admin login instead.
        return CHALLENGE


AUTHENTICATION_CLASSES = [ApiTokenAuthentication, StaffSessionAuthentication]
