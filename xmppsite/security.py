"""HTTP hardening that depends on the request: cookies marked Secure when the request came over
HTTPS (so the same process still serves a plain-HTTP development setup), and /admin/ and /api/
answered only on XMPP_ADMIN_HTTP_BIND when it is set (404 on the public HTTP port)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseBase

Handler = Callable[[HttpRequest], Any]
ADMIN_PREFIXES = ("/admin/", "/api/")


def admin_bind() -> tuple[str, int] | None:
    """XMPP_ADMIN_HTTP_BIND ("host:port", "[::1]:port") as (host, port); None when unset."""
    text = (getattr(settings, "XMPP_ADMIN_HTTP_BIND", "") or "").strip()
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_admin_listener(request: HttpRequest) -> bool:
    """Whether the request reached the admin listener: the ASGI scope's 'server' (Django's
    SERVER_PORT) is the local address Daphne accepted it on."""
    bind = admin_bind()
    return bind is None or request.META.get("SERVER_PORT") == str(bind[1])


def _harden(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if request.is_secure():
        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
            if name in response.cookies:
                response.cookies[name]["secure"] = True
                response.cookies[name]["httponly"] = True
    return response


class SecurityMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _check(self, request: HttpRequest) -> None:
        if request.path_info.startswith(ADMIN_PREFIXES) and not is_admin_listener(request):
            raise Http404("not on this address")

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.acall(request)
        self._check(request)
        return _harden(request, self.get_response(request))

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        self._check(request)
        return _harden(request, await self.get_response(request))
