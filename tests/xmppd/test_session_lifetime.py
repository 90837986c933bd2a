"""Sessions that outlive their transport (xmppd/sessions.py, xmppd/c2s.py): a module may keep
a session whose connection was cut (`session/transport-lost`), it stays bound and present
while detached, a new transport attaches to it, outbound filters see every stanza."""

from __future__ import annotations

import asyncio

import pytest

from tests.clients import connect
from tests.plugins.wire import raw_login
from tests.support.quiet import settle
from tests.support.waiting import wait_for
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
ALICE = JID.parse("alice@localhost/desk")


async def kept_session(srv):
    """alice/desk logged in raw, available, then her TCP connection cut (no </stream>)."""
    kept = []

    def keep(session):
        kept.append(session)
        return True

    srv.server.hooks.add("session/transport-lost", keep)
    await srv.add_user("alice")
    raw = await raw_login(srv, "alice", resource="desk")
    raw.send("<presence/>")
    raw.send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await raw.read_until(rb"id=.sync.")
    raw.close()
    await wait_for(lambda: kept)
    return kept[0]


async def test_a_kept_session_stays_bound_and_present_without_a_transport(xmpp) -> None:
    session = await kept_session(xmpp)
    assert session.is_detached and not session.is_closed
    assert xmpp.server.sessions.get(ALICE) is session and session.is_available
    closed = []
    xmpp.server.hooks.add("session/closed", lambda s, *_: closed.append(s))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await settle(bob)  # the server has done everything it was going to do
    assert closed == []  # no session/closed, hence no unavailable broadcast
    await xmpp.server.end_session(session)
    assert closed == [session] and xmpp.server.sessions.get(ALICE) is None


async def test_a_message_for_a_detached_session_is_not_lost(xmpp) -> None:
    session = await kept_session(xmpp)
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    bob.send_message(mto="alice@localhost", mbody="while you were away", mtype="chat")
    from offline.models import OfflineMessage

    def stored() -> list[str]:
        return [m.stanza for m in OfflineMessage.objects.all()]

    async def rows_stored() -> list[str]:
        return await asyncio.to_thread(stored)

    rows = await wait_for(rows_stored, what="the message stored offline")
    assert len(rows) == 1 and "while you were away" in rows[0]
    assert session.is_detached


async def test_a_new_transport_attaches_and_outbound_filters_see_every_stanza(xmpp) -> None:
    session = await kept_session(xmpp)
    queued: list[bytes] = []

    def queue_while_detached(s, data, el):
        if s.is_detached:
            queued.append(data)
            return None  # taken: the filter keeps it for the next transport
        return data.replace(b"</body>", b" [seen]</body>")

    session.add_outbound(queue_while_detached)
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    bob.send_message(mto="alice@localhost/desk", mbody="one", mtype="chat")
    await wait_for(lambda: queued)
    assert b">one</body>" in queued[0]
    written: list[bytes] = []
    session.attach(lambda data: written.append(data) or True, lambda condition: None, "test")
    assert not session.is_detached
    bob.send_message(mto="alice@localhost/desk", mbody="two", mtype="chat")
    await wait_for(lambda: written)
    assert b">two [seen]</body>" in written[0] and b'to="alice@localhost/desk"' in written[0]
    session.remove_outbound(queue_while_detached)
    assert session.outbound == ()


async def test_a_clean_close_ends_the_session_even_when_a_module_would_keep_it(xmpp) -> None:
    kept = []
    xmpp.server.hooks.add("session/transport-lost", lambda s: kept.append(s) or True)
    await xmpp.add_user("alice")
    raw = await raw_login(xmpp, "alice", resource="desk")
    raw.send("</stream:stream>")
    await raw.read_to_eof()
    await wait_for(lambda: xmpp.server.sessions.get(ALICE) is None)
    assert kept == []
