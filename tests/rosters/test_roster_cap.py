"""Issue 8: a roster holds at most XMPP_MAX_ROSTER_ITEMS items (on the wire)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients import RawClient, raw_plain_login

pytestmark = pytest.mark.django_db(transaction=True)


def _roster_set(raw: RawClient, iq_id: str, contact: str, name: str = "") -> None:
    raw.send(f"<iq type='set' id='{iq_id}'><query xmlns='jabber:iq:roster'>"
             f"<item jid='{contact}' name='{name}'/></query></iq>")


async def _answer(raw: RawClient, iq_id: str) -> bytes:
    data = await raw.read_until(rf"<iq[^>]*id=.{iq_id}.[^>]*(/>|>.*?</iq>)")
    raw.take()
    return data


async def test_a_new_item_beyond_the_cap_is_refused(make_server: Any) -> None:
    srv = await make_server(max_roster_items=2)
    await srv.add_user("alice")
    raw = await RawClient.open(srv.host, srv.port)
    await raw_plain_login(raw, "alice")
    for n in (1, 2):
        _roster_set(raw, f"s{n}", f"c{n}@localhost")
        assert b"type=\"result\"" in await _answer(raw, f"s{n}")
    _roster_set(raw, "s3", "c3@localhost")
    refused = await _answer(raw, "s3")
    assert b"type=\"error\"" in refused
    assert b"<policy-violation xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>" in refused
    assert b"at most 2 items" in refused
    # An item already there can still be renamed.
    _roster_set(raw, "s4", "c1@localhost", "Carol")
    assert b"type=\"result\"" in await _answer(raw, "s4")
    raw.send("<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
    roster = await _answer(raw, "g1")
    assert b"c1@localhost" in roster and b"c2@localhost" in roster and b"c3@localhost" not in roster
