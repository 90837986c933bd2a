"""Issue 8: per-address limit on unbound streams, per-account resource cap (on the wire)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients import RawClient, header, raw_plain_login, stream_error_condition
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


async def _open_stream(srv: Any) -> RawClient:
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>|</stream:stream>")
    return raw


async def test_unauthenticated_streams_per_address_are_capped(make_server: Any) -> None:
    srv = await make_server(max_unauth_per_ip=2)
    first, second = await _open_stream(srv), await _open_stream(srv)
    assert b"<stream:features" in first.buffer and b"<stream:features" in second.buffer
    third = await _open_stream(srv)
    refused = await third.read_to_eof()
    assert stream_error_condition(refused) == "policy-violation"
    assert b"<stream:features" not in refused
    # A stream that goes away gives its slot back.
    first.close()
    await wait_for(lambda: srv.server.unauth_per_ip.held("127.0.0.1") == 1, what="the slot given back")
    fourth = await _open_stream(srv)
    assert b"<stream:features" in fourth.buffer
    second.close()
    fourth.close()
    await wait_for(lambda: len(srv.server.unauth_per_ip) == 0, what="an empty address table")


async def test_a_bound_stream_no_longer_counts_against_its_address(make_server: Any) -> None:
    srv = await make_server(max_unauth_per_ip=1)
    await srv.add_user("alice")
    alice = await RawClient.open(srv.host, srv.port)
    bound = await raw_plain_login(alice, "alice")
    assert b"type=\"result\"" in bound or b"type='result'" in bound
    other = await _open_stream(srv)
    assert b"<stream:features" in other.buffer and stream_error_condition(other.buffer) is None


async def test_a_resource_beyond_the_cap_is_refused_and_none_dropped(make_server: Any) -> None:
    srv = await make_server(max_resources=2)
    await srv.add_user("alice")
    clients = []
    for resource in ("one", "two"):
        raw = await RawClient.open(srv.host, srv.port)
        assert b"<jid>" in await raw_plain_login(raw, "alice", resource=resource)
        clients.append(raw)
    third = await RawClient.open(srv.host, srv.port)
    refused = await raw_plain_login(third, "alice", resource="three")
    assert b"type=\"error\"" in refused or b"type='error'" in refused
    assert b"<resource-constraint xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>" in refused
    bare = srv.server.sessions.by_bare
    assert sorted(s.jid.resource for s in next(iter(bare.values())).values()) == ["one", "two"]
    # Re-binding a resource that is already bound replaces it (RFC 6120 §7.7.2.2), cap or not.
    again = await RawClient.open(srv.host, srv.port)
    assert b"<jid>alice@" in await raw_plain_login(again, "alice", resource="two")
