"""The rosters in memory: loaded once per user, shared, freed; no database on the presence path."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
from django.db import connection

from rosters import actions
from rosters.store import ITEMS
from tests.rosters.helpers import (ROSTER, Raw, expect, login, presence_from, q, roster_store,
                                   subscribe_in_db)
from tests.support.waiting import wait_for
from xmppcore.jid import JID
from xmppd.sessions import Session
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


@asynccontextmanager
async def queries() -> AsyncIterator[list[str]]:
    """Every SQL statement run in the database thread while the block runs."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    await db(lambda: connection.execute_wrappers.append(wrapper))
    try:
        yield seen
    finally:
        await db(lambda: connection.execute_wrappers.remove(wrapper))


async def test_roster_is_loaded_once_shared_and_freed(xmpp) -> None:
    await xmpp.add_user("alice")
    await db(actions.do_set_item, "alice", "localhost", "bob@example.org", "Bob")
    store = roster_store(xmpp)
    loads: list[str] = []
    original = actions.load_roster

    def counting(username: str, domain: str) -> Any:
        loads.append(username)
        return original(username, domain)

    actions.load_roster = counting
    try:
        one = await login(xmpp, "alice", "one")
        two = await login(xmpp, "alice", "two")
    finally:
        actions.load_roster = original
    assert loads == ["alice"]
    s1 = xmpp.server.sessions.get(JID.parse("alice@localhost/one"))
    s2 = xmpp.server.sessions.get(JID.parse("alice@localhost/two"))
    assert s1.data[ITEMS] is s2.data[ITEMS]  # one dict for both resources: no copy
    assert JID.parse("bob@example.org") in s1.data[ITEMS]
    alice = JID.parse("alice@localhost")
    one.disconnect()
    await wait_for(lambda: s1 not in store.rosters[alice].sessions, what="resource one detached from the roster")
    assert alice in store.rosters
    two.disconnect()
    await wait_for(lambda: alice not in store.rosters, what="the roster freed with the last resource")


async def test_presence_broadcast_makes_no_query(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    await xmpp.add_user("carol")
    await subscribe_in_db("bob", "alice")
    await subscribe_in_db("alice", "bob")
    b = await login(xmpp, "bob", "pc")
    c = await login(xmpp, "carol", "pc")
    a = await login(xmpp, "alice", "pc")
    await expect(b.presences, presence_from("alice@localhost/pc"))
    async with queries() as seen:
        a.send_presence(pstatus="subsequent")  # §4.4
        await expect(b.presences, presence_from("alice@localhost/pc"))
        a.send_presence(pto="carol@localhost")  # §4.6 directed
        await expect(c.presences, presence_from("alice@localhost/pc"))
        b.send_presence(pto="alice@localhost", ptype="probe")  # a probe between local users
        await expect(b.presences, presence_from("alice@localhost/pc"))
        a.send_presence(ptype="unavailable")  # §4.5
        await expect(b.presences, presence_from("alice@localhost/pc", "unavailable"))
        await expect(c.presences, presence_from("alice@localhost/pc", "unavailable"))
    assert seen == []


async def test_stanzas_right_after_bind_wait_for_the_roster(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    await subscribe_in_db("bob", "alice")
    b = await login(xmpp, "bob", "pc")
    original = actions.load_roster

    def slow(username: str, domain: str) -> Any:
        time.sleep(0.3)  # a slow database (in the db() thread): the delay is the condition under test
        return original(username, domain)

    actions.load_roster = slow
    # Without the login prefetch (a cluster node, or a roster changed since SASL success)
    # the roster is loaded after the bind result (session/bound comes after it): the
    # roster get and initial presence sent at once must still see the whole roster.
    store = roster_store(xmpp)
    (prefetch,) = [h for h in xmpp.server.hooks.handlers("auth/success") if h.__self__ is store]
    xmpp.server.hooks.remove("auth/success", prefetch)
    try:
        raw = await Raw.login(xmpp, "alice", "fast")
        assert store.loaded(JID.parse("alice@localhost")) is None
        raw.send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq><presence/>")
        result = await raw.stanza(lambda el: el.get("id") == "r")
    finally:
        actions.load_roster = original
        xmpp.server.hooks.add("auth/success", prefetch)
    items = result.find(q("query", ROSTER)).findall(q("item", ROSTER))
    assert [(i.get("jid"), i.get("subscription")) for i in items] == [("bob@localhost", "from")]
    await expect(b.presences, presence_from("alice@localhost/fast"))


async def test_a_second_resource_waits_for_the_first_load() -> None:
    from xmppd.server import Config, Server

    server = Server(Config(domains=["localhost"]))
    server.load(["rosters.xmpp"])
    store = next(h.__self__ for h in server.hooks.handlers("session/bound"))
    await db(actions.do_set_item, "alice", "localhost", "bob@example.org")
    gate = asyncio.Event()
    calls: list[str] = []
    original = actions.load_roster

    def gated(username: str, domain: str) -> Any:
        calls.append(username)
        result = original(username, domain)
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(5)
        return result

    loop = asyncio.get_running_loop()
    actions.load_roster = gated
    try:
        one = Session(JID.parse("alice@localhost/one"), lambda b: True, lambda c: None)
        two = Session(JID.parse("alice@localhost/two"), lambda b: True, lambda c: None)
        first = asyncio.ensure_future(store.attach(one))
        await wait_for(lambda: calls, what="the first load started")
        second = asyncio.ensure_future(store.of_session(two))
        for _ in range(10):  # event-loop turns, not time: the second runs up to where it waits
            await asyncio.sleep(0)
        assert not second.done() and store.loaded(JID.parse("alice@localhost")) is None
        gate.set()
        roster = await asyncio.wait_for(second, 5)
        await asyncio.wait_for(first, 5)
    finally:
        actions.load_roster = original
    assert JID.parse("bob@example.org") in roster.items and two.data[ITEMS] is one.data[ITEMS]
    assert calls == ["alice"]  # one load for both resources


async def test_roster_subscription_hook(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    await subscribe_in_db("alice", "bob")
    alice, bob = JID.parse("alice@localhost"), JID.parse("bob@localhost")
    hooks = xmpp.server.hooks
    # Offline: from the database.
    assert await hooks.fire("roster/subscription", alice, bob) == "to"
    assert await hooks.fire("roster/subscription", bob, alice) == "from"
    assert await hooks.fire("roster/subscription", bob, JID.parse("eve@localhost")) == "none"
    a = await login(xmpp, "alice")
    # Online: from memory, no query — and kept current by the roster actions.
    async with queries() as seen:
        assert await hooks.fire("roster/subscription", alice, bob) == "to"
    assert seen == []
    a.send_presence(pto="bob@localhost", ptype="unsubscribe")
    await expect(a.pushes, lambda iq: "bob@localhost" in iq["roster"]["items"])
    assert await hooks.fire("roster/subscription", alice, bob) == "none"
    # Bob (offline) is updated by his server's inbound processing, right after alice's push.
    async def bob_updated() -> bool:
        return await hooks.fire("roster/subscription", bob, alice) == "none"

    await wait_for(bob_updated, what="bob's roster updated by the inbound unsubscribe")
