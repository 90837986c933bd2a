"""WhiteNoise as async-capable Django middleware.

`whitenoise.middleware.WhiteNoiseMiddleware` is synchronous only. Under ASGI (Daphne in
`manage.py xmppd`) Django would then run every request through `sync_to_async`'s one shared
thread, including the async views that wait for minutes (XEP-0070 confirmations): one waiting
request would hold up every page. This subclass keeps the chain async. A static file costs one
hop to a worker thread that opens and reads it; any other request goes straight to the next
handler. Under WSGI and the test client it behaves exactly like WhiteNoise.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

Handler = Callable[[HttpRequest], Any]


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """Serves STATIC_URL from the collected STATIC_ROOT (or the apps' static/ dirs)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Handler) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.acall(request)
        return super().__call__(request)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # DEBUG: looks at the disk on every request
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)  # an in-memory table built at start-up
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(read_response, thread_sensitive=False)(static_file, request)


def read_response(static_file: Any, request: HttpRequest) -> HttpResponse:
    """WhiteNoise's answer (status, headers, the variant the client accepts) with the body read
    whole: ASGI would otherwise drain a file iterator in the shared sync thread. Static files are
    small (the admin's largest is about 300 kB)."""
    response = static_file.get_response(request.method, request.META)
    body = b""
    if response.file is not None:
        with response.file as f:
            body = f.read()
    http_response = HttpResponse(body, status=int(response.status))
    del http_response["Content-Type"]  # WhiteNoise's own headers say it, when there is a body
    for key, value in response.headers:
        http_response[key] = value
    return http_response
