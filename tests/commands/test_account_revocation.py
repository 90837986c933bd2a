"""Issue 8: changing a password, disabling or deleting an account revokes the API tokens that
belong to it (401 from the REST API) and ends the Django sessions /auth/xmpp/ (XEP-0070)
authorised as it — whatever the face that made the change."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import AsyncClient

from accounts import actions as accounts
from commands import httpauth
from commands.models import ApiToken
from tests.clients import connect
from tests.commands.helpers import Api, make_token
from tests.commands.test_http_auth import Confirmer, basic
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def two_domains(settings: object) -> None:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]


async def _owned_token(admin: Api, account: str, domain: str = "localhost") -> str:
    r = await admin.post("/api/commands/create_api_token",
                         {"name": "delegated", "domain": domain, "account": account})
    assert r.status_code == 200, r.data
    assert r.data["result"]["account"] == account.lower()
    return r.data["result"]["token"]


async def test_a_password_change_over_rest_revokes_the_accounts_tokens() -> None:
    await db(accounts.do_create_account, "alice", "localhost", "pw")
    await db(accounts.do_create_account, "bob", "localhost", "pw")
    admin = Api(await make_token())
    alice = Api(await _owned_token(admin, "Alice@localhost"))  # normalized: alice@localhost
    bob = Api(await _owned_token(admin, "bob@localhost"))
    assert (await alice.get("/api/users", domain="localhost")).status_code == 200
    r = await admin.put("/api/users/alice@localhost/password", {"password": "new"})
    assert r.status_code in (200, 204), r.data
    refused = await alice.get("/api/users", domain="localhost")
    assert refused.status_code == 401
    assert refused.data["error"]["code"] == "unauthorized"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    # Only that account's tokens: bob's and the operator's still work.
    assert (await bob.get("/api/users", domain="localhost")).status_code == 200
    assert (await admin.get("/api/users")).status_code == 200
    listed = (await admin.get("/api/commands/list_api_tokens")).data["result"]
    assert {(t["account"], t["active"]) for t in listed} >= {("alice@localhost", False),
                                                            ("bob@localhost", True)}


async def test_a_token_changing_its_own_accounts_password_is_revoked_too() -> None:
    await db(accounts.do_create_account, "dora", "localhost", "pw")
    own = Api(await _owned_token(Api(await make_token()), "dora@localhost"))
    r = await own.put("/api/users/dora@localhost/password", {"password": "new"})
    assert r.status_code in (200, 204), r.data
    assert (await own.get("/api/users", domain="localhost")).status_code == 401


@pytest.mark.parametrize("change", ["disable", "delete", "admin_password"])
async def test_disable_delete_and_other_faces_revoke_tokens(change: str) -> None:
    await db(accounts.do_create_account, "carol", "localhost", "pw")
    admin = Api(await make_token())
    carol = Api(await _owned_token(admin, "carol@localhost"))
    if change == "disable":
        assert (await admin.post("/api/users/carol@localhost/disable")).status_code in (200, 204)
    elif change == "delete":
        assert (await admin.delete("/api/users/carol@localhost")).status_code in (200, 204)
    else:  # manage.py passwd, the Django admin, XEP-0077: all call the one do_* writer
        await db(accounts.do_set_password, "carol", "localhost", "other")
    assert (await carol.get("/api/users", domain="localhost")).status_code == 401
    assert (await admin.get("/api/users")).status_code == 200


async def test_enabling_an_account_revokes_nothing() -> None:
    await db(accounts.do_create_account, "erin", "localhost", "pw")
    admin = Api(await make_token())
    erin = Api(await _owned_token(admin, "erin@localhost"))
    assert (await admin.post("/api/users/erin@localhost/enable")).status_code in (200, 204)
    assert (await erin.get("/api/users", domain="localhost")).status_code == 200
    assert await db(lambda: ApiToken.objects.get(account="erin@localhost").is_active)


async def _browser_login(xmpp: Any, user: str) -> tuple[AsyncClient, str]:
    client = await connect(xmpp, await xmpp.add_user(user))
    Confirmer(client, "accept")
    browser = AsyncClient()
    r = await browser.get("/auth/xmpp/", headers={"Authorization": basic(str(client.boundjid), "tx1")})
    assert r.status_code == 200, r.content
    session = await browser.asession()
    assert await session.aget(httpauth.SESSION_KEY) == f"{user}@localhost"
    return browser, session.session_key


async def test_a_password_change_ends_the_xep0070_web_sessions(xmpp: Any) -> None:
    browser, key = await _browser_login(xmpp, "bob")
    other, other_key = await _browser_login(xmpp, "zoe")
    assert await db(lambda: Session.objects.filter(session_key=key).exists())
    await db(accounts.do_set_password, "bob", "localhost", "new")
    assert not await db(lambda: Session.objects.filter(session_key=key).exists())
    session = await browser.asession()
    assert await session.aget(httpauth.SESSION_KEY) is None
    # Another account's web session is left alone.
    assert await (await other.asession()).aget(httpauth.SESSION_KEY) == "zoe@localhost"
    assert await db(lambda: Session.objects.filter(session_key=other_key).exists())


async def test_the_verified_session_gets_a_fresh_key(xmpp: Any) -> None:
    """No session fixation: the key the browser had before the login is not the one authorised."""
    client = await connect(xmpp, await xmpp.add_user("fay"))
    Confirmer(client, "accept")
    browser = AsyncClient()
    before = await browser.asession()
    await before.aset("seen", True)
    await before.asave()
    browser.cookies["sessionid"] = before.session_key
    r = await browser.get("/auth/xmpp/", headers={"Authorization": basic(str(client.boundjid), "tx1")})
    assert r.status_code == 200
    after = await browser.asession()
    assert after.session_key != before.session_key
    assert await after.aget(httpauth.SESSION_KEY) == "fay@localhost"


@pytest.mark.parametrize("typed, stored", [("Dora@LocalHost", "dora@localhost"), ("", "")])
async def test_the_admin_gives_a_token_an_owning_account(typed: str, stored: str) -> None:
    from django.contrib.auth.models import User

    user = await db(User.objects.create_superuser, "root", "root@example.org", "pw")
    client = AsyncClient()
    await client.aforce_login(user)
    r = await client.post("/admin/commands/apitoken/add/", {"name": "owned", "domain": "", "account": typed})
    assert r.status_code == 302, r.content.decode()[:2000]
    assert (await db(ApiToken.objects.get, name="owned")).account == stored
    r = await client.post("/admin/commands/apitoken/add/", {"name": "bad", "domain": "", "account": "a@b/c"})
    assert r.status_code == 200 and b"bare JID" in r.content
