"""XEP-0070 §6.1 on /auth/xmpp/: attempts are limited per client address and prompts per
target account (HTTP 429, RFC 6585 §4), and the transaction id the user reads is one short line."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient

from commands import httpauth
from tests.clients import connect
from tests.commands.test_http_auth import Confirmer, basic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.XMPP_HTTP_AUTH_PER_ADDRESS = 4
    settings.XMPP_HTTP_AUTH_PER_ACCOUNT = 2
    httpauth.PER_ADDRESS.clear()
    httpauth.PER_ACCOUNT.clear()
    yield
    httpauth.PER_ADDRESS.clear()
    httpauth.PER_ACCOUNT.clear()


class Browser(AsyncClient):
    """A test client at `address`: the ASGI scope's 'client', which Django reports as REMOTE_ADDR."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope = super()._base_scope(**request)
        scope["client"] = [self.address, 0]
        return scope


async def login(jid: str, txid: str, address: str = "127.0.0.1") -> Any:
    return await Browser(address).get("/auth/xmpp/", headers={"Authorization": basic(jid, txid)})


async def test_prompts_per_account_are_limited(xmpp: Any, limits: None) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    carol = await connect(xmpp, await xmpp.add_user("carol"))
    confirmers = Confirmer(bob, "accept"), Confirmer(carol, "accept")
    assert (await login(str(bob.boundjid), "t1", "10.0.0.1")).status_code == 200
    assert (await login(str(bob.boundjid), "t2", "10.0.0.2")).status_code == 200
    busy = await login(str(bob.boundjid), "t3", "10.0.0.3")
    assert busy.status_code == 429 and busy["Retry-After"] == "60"
    assert len(confirmers[0].received) == 2  # the third prompt was never sent
    assert (await login(str(carol.boundjid), "t4", "10.0.0.3")).status_code == 200


async def test_attempts_per_address_are_limited(xmpp: Any, limits: None) -> None:
    for n in range(4):  # failures count too: guessing JIDs is what the limit is for
        assert (await login(f"nobody{n}@elsewhere.example", "t", "10.0.0.9")).status_code == 401
    assert (await login("nobody@elsewhere.example", "t", "10.0.0.9")).status_code == 429
    assert (await login("nobody@elsewhere.example", "t", "10.0.0.10")).status_code == 401


@pytest.mark.parametrize("txid", ["line1\nApprove: bank.example", "a\rb", "tab\there", "\u202egnp.exe",
                                  "x\u2028y", "x" * 65])
async def test_transaction_id_is_one_short_line(xmpp: Any, limits: None, txid: str) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    confirmer = Confirmer(bob, "accept")
    response = await login(str(bob.boundjid), txid)
    assert response.status_code == 401 and response.json()["message"].startswith("id:")
    assert confirmer.received == []
    assert (await login(str(bob.boundjid), "x" * 64)).status_code == 200
