"""Shared by the command tests: API tokens, a JSON client for /api/, waiting on conditions."""

from __future__ import annotations

import json
from typing import Any

from django.test import AsyncClient

from commands.registry import Actor
from tests.support.waiting import wait_for  # noqa: F401 (the one waiter, re-exported)
from xmppd.storage import db

SERVER_ADMIN = Actor(jid=None, is_server_admin=True, admin_domains=frozenset(), source="cli", label="cli")


async def make_token(domain: str = "", read_only: bool = False, name: str = "test") -> str:
    from commands.actions import do_create_token

    _, raw = await db(do_create_token, name, domain, read_only)
    return raw


class Api:
    """A JSON client for the REST API with a bearer token (None: no Authorization header)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.client = AsyncClient()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        fn = getattr(self.client, method.lower())
        kwargs: dict[str, Any] = {"headers": self._headers()}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif query:
            kwargs["data"] = query
        response = await fn(path, **kwargs)
        response.data = json.loads(response.content) if response.content else None
        return response

    async def get(self, path: str, **query: Any) -> Any:
        return await self.call("GET", path, **query)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.call("POST", path, body if body is not None else {})

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.call("PUT", path, body if body is not None else {})

    async def delete(self, path: str) -> Any:
        return await self.call("DELETE", path)


async def raw_login(host: str, port: int, user: str, password: str = "secret", *, resource: str = "raw",
                    domain: str = "localhost", presence: bool = True) -> Any:
    """A bound RawClient (PLAIN without TLS), with initial presence sent if asked."""
    import base64

    from tests.clients import RawClient, header

    raw = await RawClient.open(host, port)
    raw.send(header(domain))
    await raw.read_until(b"</stream:features>")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    data = await raw.read_until(b"<success|<failure")
    if b"<success" not in data:
        raw.close()
        raise AssertionError(f"login of {user} failed: {data!r}")
    raw.take()
    raw.send(header(domain))
    await raw.read_until(b"</stream:features>")
    raw.send(f"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             f"<resource>{resource}</resource></bind></iq>")
    await raw.read_until(b"</iq>")
    raw.take()
    if presence:
        raw.send("<presence/>")
    return raw


async def login_fails(host: str, port: int, user: str, password: str = "secret") -> bool:
    """True when SASL PLAIN is refused for that user and password."""
    try:
        raw = await raw_login(host, port, user, password, presence=False)
    except AssertionError:
        return True
    raw.close()
    return False
