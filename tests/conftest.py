"""Shared fixtures: a real server on free loopback ports, and real clients (slixmpp, raw sockets)."""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import pytest

os.environ.setdefault("XMPP_DATA_DIR", tempfile.mkdtemp(prefix="xmppsite-test-"))
# Static files straight from the apps, no collectstatic per run, in `manage.py` subprocesses
# too (tests/web checks the collected path).
os.environ.setdefault("XMPP_STATIC_FROM_APPS", "true")

DOMAIN = "localhost"
OTHER_DOMAIN = "example.org"


@dataclass
class RunningServer:
    """A server started for one test: its ports, its Server object, helpers to add users."""

    server: Any
    runner: Any
    host: str = "127.0.0.1"
    domain: str = DOMAIN
    clients: list[Any] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.runner.bound.c2s

    @property
    def tls_port(self) -> int:
        return self.runner.bound.direct_tls

    async def add_user(self, username: str, password: str = "secret", domain: str | None = None) -> str:
        from accounts.actions import do_create_account
        from xmppd.storage import db

        await db(do_create_account, username, domain or self.domain, password)
        return f"{username}@{domain or self.domain}"


def pytest_configure(config: pytest.Config) -> None:
    """XMPP_STATIC_FROM_APPS in this process too, for the whole run and before any test module is
    imported (one builds the ASGI application, and its middleware, at import). pytest-django has
    loaded the settings before this file, so the environment variable above comes too late here."""
    from django.conf import settings
    from django.test import override_settings

    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(XMPP_STATIC_FROM_APPS=True, WHITENOISE_USE_FINDERS=True, STATIC_ROOT=None,
                      STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()


@pytest.fixture
async def make_server(transactional_db: None) -> AsyncIterator[Any]:
    """Factory: `await make_server(require_tls=..., allow_registration=...)`."""
    from xmppd.runner import Ports, Runner
    from xmppd.server import Config, reset_server
    from xmppsite.asgi import application

    started: list[RunningServer] = []

    async def factory(**overrides: Any) -> RunningServer:
        config = Config.from_settings()
        config.domains = [DOMAIN, OTHER_DOMAIN]
        config.require_tls = overrides.pop("require_tls", False)
        config.ping_interval = overrides.pop("ping_interval", 3600.0)
        config.auth_failure_delay_max = overrides.pop("auth_failure_delay_max", 0.2)
        for key, value in overrides.items():
            setattr(config, key, value)
        server = reset_server(config)
        runner = Runner(server, application, ports=Ports(0, 0))
        await runner.start()
        running = RunningServer(server, runner)
        started.append(running)
        return running

    yield factory
    for running in started:
        for client in running.clients:
            try:
                client.abort()
            except Exception:
                pass
        await running.runner.stop()
    await asyncio.sleep(0)  # one event-loop turn, not a wait: transports' close callbacks run


@pytest.fixture
async def xmpp(make_server: Any) -> RunningServer:
    """A server on loopback with PLAIN allowed without TLS (most protocol tests)."""
    return await make_server()


def client_ssl_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
