"""Who may use the web layer and how its forms are protected: a bearer token (the API) or a login form setting an
HttpOnly SameSite cookie (the pages), or any ``auth(request) -> bool``; CSRF tokens on every form; a bound on
request bodies.

The session cookie holds an HMAC of the token, never the token itself; the CSRF token is a random value kept in a
cookie of its own and repeated in each form (double submit), and a POST a browser marks as cross-site is refused
whatever it carries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Guard", "BodyLimit", "SESSION_COOKIE", "CSRF_COOKIE"]

SESSION_COOKIE = "taskgraph_session"
CSRF_COOKIE = "taskgraph_csrf"

AuthCallable = Callable[[Request], "bool | Awaitable[bool]"]


class Guard:
    """The access rules of one app.

    Args:
        token: a secret: API calls send ``Authorization: Bearer TOKEN``; a person signs in once with it.
        auth: a callable deciding for each request (sync or async); used instead of, or with, the token.
        read_only: refuse every action (retry, cancel, delete, purge, enqueue).
    """

    def __init__(self, token: str | None = None, auth: AuthCallable | None = None, read_only: bool = False) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("token must be a non-empty string")
        self.token = token
        self.auth = auth
        self.read_only = read_only

    @property
    def open(self) -> bool:
        """Whether anyone may come in (no token, no auth callable)."""
        return self.token is None and self.auth is None

    def session_value(self) -> str:
        """What the session cookie holds once signed in: an HMAC of the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"taskgraph-dashboard-session", hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def _callable_allows(self, request: Request) -> bool:
        if self.auth is None:
            return True
        answer = self.auth(request)
        if isinstance(answer, Awaitable):
            answer = await answer
        return bool(answer)

    async def api_allows(self, request: Request) -> bool:
        """An API request: the bearer token (when there is one) and the auth callable (when there is one)."""
        if self.token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not self.token_matches(given.strip()):
                return False
        return await self._callable_allows(request)

    async def page_allows(self, request: Request) -> bool:
        """A page: the session cookie (when there is a token) and the auth callable (when there is one)."""
        if self.token is not None:
            cookie = request.cookies.get(SESSION_COOKIE, "")
            if not hmac.compare_digest(cookie.encode(), self.session_value().encode()):
                return False
        return await self._callable_allows(request)


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (from its cookie), or a new one that the response must set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def cross_site(request: Request) -> bool:
    """Whether a browser says the request comes from another site: ``Sec-Fetch-Site``, or an ``Origin`` that is not
    this host. (A page elsewhere can make a browser POST here without reading the answer; a request that changes
    the store is refused when it says so, token or not.)"""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    from urllib.parse import urlsplit

    return origin == "null" or urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


def csrf_ok(request: Request, given: str) -> bool:
    """Whether a form's CSRF token matches the browser's cookie, and the browser did not mark it cross-site."""
    if cross_site(request):
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), given.encode())


def cookie_path(request: Request) -> str:
    """The path the app's cookies are scoped to: where it is mounted."""
    return (request.scope.get("root_path") or "") + "/"


def set_cookie(response: Any, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", path=cookie_path(request),
                        secure=request.url.scheme == "https")


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 before the app reads it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0
        answered = False

        async def bounded() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not answered:
                    answered = True  # answer now; to the app, the client has gone
                    await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def unless_answered(message: Message) -> None:
            if not answered:
                await send(message)

        await self.app(scope, bounded, unless_answered)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail": "request body over {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
