"""Reserved names cannot be registered in-band (XEP-0077 §3.1 <conflict/>), and a deleted
account leaves no roster item or subscription behind in other users' rosters."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from accounts import actions
from rosters import actions as rosters
from rosters.models import RosterItem
from tests.accounts.test_register_wire import condition, login_raw, open_stream, register_iq, request
from xmppcore.jid import JID
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operators(settings: Any) -> None:
    settings.XMPP_ADMINS = ["boss@localhost"]
    settings.XMPP_DOMAIN_ADMINS = "localhost=keeper@localhost;example.org=other@example.org"
    settings.XMPP_RESERVED_USERNAMES = ["admin", "postmaster", "abuse"]


def register(username: str, id_: str) -> str:
    return register_iq(id_, f"<username>{username}</username>", "<password>pw-pw-pw</password>")


async def test_reserved_names_and_administrators_are_a_conflict(make_server: Any, operators: None) -> None:
    srv = await make_server(allow_registration=True)
    raw, _ = await open_stream(srv)
    for n, name in enumerate(["admin", "PostMaster", "abuse", "boss", "keeper"]):
        reply = await request(raw, register(name, f"r{n}"), f"r{n}")
        assert reply.get("type") == "error" and condition(reply) == "conflict", name
        assert not await db(actions.account_exists, name.lower(), "localhost")
    # other@ administers example.org only: the name is free on localhost.
    reply = await request(raw, register("other", "ok"), "ok")
    assert reply.get("type") == "result"
    # Operators still create such accounts themselves.
    await db(actions.do_create_account, "postmaster", "localhost", "pw")


async def _befriend(a: str, b: str) -> None:
    """Mutual subscription (RFC 6121 Appendix A) between a@localhost and b@localhost."""
    ja, jb = JID.parse(f"{a}@localhost"), JID.parse(f"{b}@localhost")
    for x, y, jx, jy in ((a, b, ja, jb), (b, a, jb, ja)):
        await db(rosters.do_set_item, x, "localhost", jy)
        await db(rosters.do_outbound, x, "localhost", jy, "subscribe")
        await db(rosters.do_inbound, y, "localhost", jx, "subscribe")
        await db(rosters.do_outbound, y, "localhost", jx, "subscribed")
        await db(rosters.do_inbound, x, "localhost", jy, "subscribed")


async def test_deleting_an_account_removes_it_from_other_rosters(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    for name in ("alice", "bob", "carol"):
        await srv.add_user(name)
    await _befriend("bob", "alice")
    await _befriend("carol", "alice")
    assert await db(rosters.get_subscription, "bob", "localhost", "alice@localhost") != "none"
    bob = await login_raw(srv, "bob", "secret")
    roster = await request(bob, "<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>", "rg")
    assert b"alice@localhost" in etree.tostring(roster)
    alice = await login_raw(srv, "alice", "secret", resource="gone")
    alice.send(register_iq("bye", "<remove/>"))
    # RFC 6121 §2.1.6: bob's interested resource gets the push removing alice.
    push = await bob.read_until(rb"<iq[^>]*type=\"set\".*?</iq>")
    assert b"alice@localhost" in push and b'subscription="remove"' in push, push
    assert not await db(lambda: RosterItem.objects.filter(jid="alice@localhost").exists())
    assert await db(rosters.get_subscription, "carol", "localhost", "alice@localhost") == "none"
    # Whoever takes the name next inherits nobody's presence.
    raw, _ = await open_stream(srv)
    assert (await request(raw, register("alice", "again"), "again")).get("type") == "result"
    assert await db(rosters.get_subscription, "bob", "localhost", "alice@localhost") == "none"
