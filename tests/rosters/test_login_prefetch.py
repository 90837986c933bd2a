"""The login prefetch: the roster and the offline check are read at SASL success, in one
trip to the DB thread, before the bind result; never trusted when a write came since;
nothing is left behind by a login that fails or goes away before binding."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any, Callable

import pytest

from offline.models import OfflineMessage
from rosters import actions
from rosters.models import RosterItem
from tests.clients import RawClient, header
from tests.rosters.helpers import ROSTER, Raw, authenticate, q, roster_store
from tests.rosters.test_store import queries
from tests.support.waiting import wait_for
from xmppcore.jid import JID
from xmppd import storage
from xmppd.storage import Prefetch, db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def xmpp(make_server: Any) -> Any:
    """A single node, whatever REDIS_URL says: in a cluster the offline check is not read
    ahead (another node may store a message unseen), see the cluster test below."""
    return await make_server(redis_url="")
ALICE = JID.parse("alice@localhost")


async def bind(srv: Any, raw: RawClient, resource: str = "r") -> Raw:
    return await Raw.bind(srv, raw, "alice", resource)


def gate_roster_reads(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Roster reads wait for the returned event (at most 5 s)."""
    gate = threading.Event()
    original = actions.load_roster

    def gated(username: str, domain: str) -> Any:
        gate.wait(5)
        return original(username, domain)

    monkeypatch.setattr(actions, "load_roster", gated)
    return gate


async def bind_and_lose(srv: Any, gate: threading.Event, lose: bytes) -> None:
    """Ask to bind while the prefetch is held; the login ends (`lose` seen); release it;
    then the connection's prefetch and driver must be gone and nothing bound or kept."""
    captured = capture_prefetches(srv)
    raw = await authenticate(srv)
    raw.take()
    raw.send(header() + "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    await raw.read_until(lose, timeout=5)
    raw.close()
    (driver, prefetch), = captured
    # The server sees the close (its consumer takes the disconnect once the bind's wait for the
    # held read ends: at the latest when the gate gives up after 5 s), then the read completes.
    await wait_for(lambda: driver() is None or driver().is_closing, 10, what="the close seen by the server")
    gate.set()
    await until(lambda: driver() is None and prefetch() is None)
    assert srv.server.sessions.resources(ALICE) == []
    assert ALICE not in roster_store(srv).rosters


def capture_prefetches(srv: Any) -> list[tuple[weakref.ref, weakref.ref]]:
    """(driver, prefetch) of every auth/success from now on, weakly held."""
    seen: list[tuple[weakref.ref, weakref.ref]] = []

    def hook(_username: str, _domain: str, driver: Any, prefetch: Prefetch) -> None:
        seen.append((weakref.ref(driver), weakref.ref(prefetch)))

    srv.server.hooks.add("auth/success", hook, -1000)
    return seen


def record_trips(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The roster and offline keys read by each prefetch trip to the DB thread (other modules'
    reads, such as the avatar hash of vcards.avatar, may ride along)."""
    trips: list[list[str]] = []
    original = storage._read_all

    def recording(readers: dict[str, Any]) -> dict[str, Any]:
        trips.append(sorted(key for key in readers if key in ("offline", "rosters")))
        return original(readers)

    monkeypatch.setattr(storage, "_read_all", recording)
    return trips


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """`condition` after a garbage collection (what is only reachable from cycles is gone)."""
    await wait_for(lambda: gc.collect() >= 0 and condition(), timeout, what="objects freed")


async def test_roster_and_offline_are_read_before_the_bind_result_and_never_after(xmpp, monkeypatch) -> None:
    await xmpp.add_user("alice")
    await db(actions.do_set_item, "alice", "localhost", "bob@example.org", "Bob")
    trips = record_trips(monkeypatch)
    tables = (RosterItem._meta.db_table, OfflineMessage._meta.db_table)
    async with queries() as seen:
        raw = await authenticate(xmpp)
        client = await bind(xmpp, raw)
        at_bind = len(seen)
        client.send("<presence/><iq type='get' id='ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                    "<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
        await client.stanza(lambda el: el.get("id") == "ping")
        roster = await client.stanza(lambda el: el.get("id") == "roster")
    reads = [sql for sql in seen[:at_bind] if any(t in sql for t in tables)]
    assert [t for t in tables if any(t in sql for sql in reads)] == list(tables)
    assert [sql for sql in seen[at_bind:] if any(t in sql for t in tables)] == []
    assert trips == [["offline", "rosters"]]  # one trip for both
    items = roster.find(q("query", ROSTER)).findall(q("item", ROSTER))
    assert [i.get("jid") for i in items] == ["bob@example.org"]
    client.close()


async def test_in_a_cluster_only_the_roster_is_read_ahead(make_server, monkeypatch) -> None:
    import os
    import secrets

    srv = await make_server(redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
                            cluster_prefix=f"xmppsite-test-{secrets.token_hex(4)}")
    await srv.add_user("alice")
    trips = record_trips(monkeypatch)
    raw = await authenticate(srv)
    await bind(srv, raw)
    assert trips == [["rosters"]]


async def test_a_failed_login_reads_nothing_ahead(xmpp, monkeypatch) -> None:
    await xmpp.add_user("alice")
    trips = record_trips(monkeypatch)
    captured = capture_prefetches(xmpp)
    raw = await authenticate(xmpp, password="wrong")
    assert b"<failure" in raw.take()
    assert (trips, captured) == ([], [])
    raw.close()


async def test_a_login_gone_before_bind_leaves_nothing_behind(xmpp, monkeypatch) -> None:
    await xmpp.add_user("alice")
    await bind_and_lose(xmpp, gate_roster_reads(monkeypatch), rb"</stream:features>")


async def test_a_roster_change_after_the_prefetch_is_not_hidden(xmpp) -> None:
    await xmpp.add_user("alice")
    captured = capture_prefetches(xmpp)
    raw = await authenticate(xmpp)
    (_driver, prefetch), = captured
    await prefetch().ready()  # the roster was read (empty) ...
    store = roster_store(xmpp)
    await store.change(ALICE, actions.do_set_item, "carol@localhost", "Carol")  # ... then changed
    client = await bind(xmpp, raw)
    client.send("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
    roster = await client.stanza(lambda el: el.get("id") == "roster")
    items = roster.find(q("query", ROSTER)).findall(q("item", ROSTER))
    assert [i.get("jid") for i in items] == ["carol@localhost"]
    client.close()


async def test_no_roster_read_ahead_for_a_user_already_online(xmpp, monkeypatch) -> None:
    await xmpp.add_user("alice")
    first = await bind(xmpp, await authenticate(xmpp), "one")
    trips = record_trips(monkeypatch)
    second = await bind(xmpp, await authenticate(xmpp), "two")
    assert trips == [["offline"]]  # the roster is in memory already: shared, not read
    first.close()
    second.close()


async def test_a_login_timed_out_while_bind_waits_binds_nothing(make_server, monkeypatch) -> None:
    srv = await make_server(login_timeout=1)
    await srv.add_user("alice")
    # RFC 6120 §4.9.3.4: the login timer ends the stream while bind still waits.
    await bind_and_lose(srv, gate_roster_reads(monkeypatch), rb"connection-timeout")
