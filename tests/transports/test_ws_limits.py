"""Issue 8 over WebSocket (RFC 7395): unbound streams per address, XMPP_MAX_CONNECTIONS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients import RawClient, header, stream_error_condition
from tests.support.waiting import wait_for
from tests.transports.conftest import WSClient
from tests.transports.test_websocket import OPEN, assert_stream_error, drain

pytestmark = pytest.mark.django_db(transaction=True)


async def test_unbound_websocket_streams_per_address_are_capped(make_web: Any) -> None:
    web = await make_web(max_unauth_per_ip=1)
    first = await WSClient.open(web.ws_url)
    await first.open_stream()
    second = await WSClient.open(web.ws_url)
    await second.send(OPEN)
    messages, _ = await drain(second)
    assert_stream_error(messages, "policy-violation", header=True)
    # The same address on TCP shares the count: one counter for every transport.
    raw = await RawClient.open(web.xmpp.host, web.xmpp.port)
    raw.send(header())
    assert stream_error_condition(await raw.read_to_eof()) == "policy-violation"
    await first.close()
    await wait_for(lambda: len(web.xmpp.server.unauth_per_ip) == 0, what="the slot given back")


async def test_websocket_streams_count_toward_max_connections(make_web: Any) -> None:
    web = await make_web(max_connections=2)
    raw = await RawClient.open(web.xmpp.host, web.xmpp.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    first = await WSClient.open(web.ws_url)
    await first.open_stream()
    second = await WSClient.open(web.ws_url)
    messages, _ = await drain(second)
    assert_stream_error(messages, "resource-constraint", header=True)
    third = await RawClient.open(web.xmpp.host, web.xmpp.port)  # and TCP sees the WebSocket
    assert stream_error_condition(await third.read_to_eof()) == "resource-constraint"
    await first.close()
    await wait_for(lambda: web.xmpp.server.streams.count == 1, what="the WebSocket stream counted out")


async def test_unbound_bosh_sessions_per_address_are_capped(make_web: Any) -> None:
    from tests.transports.conftest_bosh import BoshClient
    from xmppd.transports.bosh import table_for

    web = await make_web(max_unauth_per_ip=1)
    try:
        first = await BoshClient.for_web(web).create()
        assert first.status == 200 and first.type is None, first.body
        second = await BoshClient.for_web(web).create()
        # XEP-0206 §7: the stream error travels in a terminating <body/>.
        assert (second.type, second.condition) == ("terminate", "remote-stream-error"), second.body
        assert b"<policy-violation xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>" in second.body
    finally:
        table_for(web.xmpp.server).shutdown()
