"""Issue 8: a stored subscription request that no longer parses is skipped at login
(RFC 6121 §3.1.3 rule 4 still delivers the others) and never reaches the client's stream."""

from __future__ import annotations

import pytest

from rosters import actions
from tests.clients import connect
from xmppcore.jid import JID
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)
REQUEST = "<presence xmlns='jabber:client' type='subscribe' from='{0}' to='bob@localhost'/>"
BROKEN = "<presence xmlns='jabber:client' type='subscribe' from='alice@localhost' to='bob@localhost'>"


def _store_requests() -> None:
    for contact, xml in (("alice@localhost", BROKEN), ("carol@localhost", REQUEST.format("carol@localhost"))):
        actions.do_inbound("bob", "localhost", JID.parse(contact), "subscribe", xml)


async def test_a_broken_request_is_skipped_and_the_stream_survives(xmpp) -> None:
    await xmpp.add_user("bob", "secret")
    await db(_store_requests)
    bob = await connect(xmpp, "bob@localhost", presence=False)
    bob.auto_authorize = None  # keep the requests pending
    seen: list[str] = []
    bob.add_event_handler("presence_subscribe", lambda p: seen.append(p["from"].bare))
    bob.send_presence()
    # a round trip after login: had the broken request been written, it would swallow this
    result = await bob.plugin["xep_0199"].ping(jid="localhost", timeout=5)
    assert result is not None
    assert seen == ["carol@localhost"]
