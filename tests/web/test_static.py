"""Static files as the tests serve them (straight from the apps, tests/conftest.py), through the
project's middleware on both of Django's paths: the sync one (test client, WSGI) and the async
one (Daphne, uvicorn), which must stay async all along."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client
from django.urls import path

BASE_CSS = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"


def test_admin_stylesheet_is_served() -> None:
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"] == 'text/css; charset="utf-8"'
    assert b"".join(response.streaming_content) == BASE_CSS.read_bytes()


def test_a_missing_static_file_is_a_404() -> None:
    assert Client().get("/static/admin/css/no-such.css").status_code == 404


async def test_async_path_serves_the_file_and_its_conditional_get() -> None:
    client = AsyncClient()
    response = await client.get("/static/admin/css/base.css")
    assert response.status_code == 200 and response.content == BASE_CSS.read_bytes()
    assert response["Content-Length"] == str(BASE_CSS.stat().st_size)
    again = await client.get("/static/admin/css/base.css", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304 and again.content == b""
    head = await client.head("/static/admin/css/base.css")
    assert head.status_code == 200 and head.content == b""


class Gate:
    """What the view below waits on, and tells when it has started waiting."""

    entered: asyncio.Event
    release: asyncio.Event


async def waiting_view(request: HttpRequest) -> HttpResponse:
    Gate.entered.set()
    await asyncio.wait_for(Gate.release.wait(), 10)
    return HttpResponse("released")


urlpatterns = [path("wait", waiting_view)]  # this module is the URLconf of the test below


async def test_a_waiting_async_view_leaves_the_shared_sync_thread_free(settings: Any) -> None:
    """Plain WhiteNoise is sync-only: Django would then run every async view (XEP-0070's wait for
    a confirmation among them) under async_to_sync from sync_to_async's one shared thread, and
    hold that thread, which every sync view and the ORM need, for as long as the view waits."""
    settings.ROOT_URLCONF = __name__
    Gate.entered, Gate.release = asyncio.Event(), asyncio.Event()
    request = asyncio.ensure_future(AsyncClient().get("/wait"))
    try:
        await asyncio.wait_for(Gate.entered.wait(), 5)
        assert await asyncio.wait_for(sync_to_async(lambda: "free")(), 5) == "free"
    finally:
        Gate.release.set()
        response = await asyncio.wait_for(request, 5)
    assert response.status_code == 200 and response.content == b"released"


async def test_other_requests_pass_through_to_async_views() -> None:
    response = await asyncio.wait_for(AsyncClient().get("/.well-known/host-meta.json"), 5)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
