"""Issue 8: memory per WebSocket connection is bounded (RFC 6120 §13.12): input is held to
XMPP_RATE_LIMIT_BYTES as on TCP, and output queued behind a peer that does not read stops
at the TCP cap (xmppd/transports/tcp.py MAX_WRITE_BUFFER)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.transports.conftest import CLIENT, WSClient
from tests.transports.test_websocket import assert_stream_error, drain
from xmppcore.framing import WebSocketFraming
from xmppd.transports import websocket

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 4096
PING = f"<iq xmlns='{CLIENT}' type='get' id='{{}}'><ping xmlns='urn:xmpp:ping'/></iq>"
FILLER = f"<message xmlns='{CLIENT}' to='nobody@localhost' type='headline'><body>{'x' * 1000}</body></message>"


async def test_a_flood_over_the_rate_ends_the_stream(make_web: Any) -> None:
    web = await make_web(rate_limit_bytes=RATE)
    await web.xmpp.add_user("alice")
    c = await WSClient.open(web.ws_url)
    await c.login("alice", resource="web")
    for _ in range(40):  # ten times the rate, without waiting for anything
        await c.send(FILLER)
    messages, _ = await drain(c, timeout=10)
    assert_stream_error(messages, "policy-violation", header=False)


async def test_a_burst_over_the_rate_is_slowed_not_refused(make_web: Any) -> None:
    web = await make_web(rate_limit_bytes=RATE)
    await web.xmpp.add_user("alice")
    c = await WSClient.open(web.ws_url)
    await c.login("alice", resource="web")
    for _ in range(6):  # one and a half times the rate: waited out
        await c.send(FILLER)
    await c.send(PING.format("p1"))
    pong = await c.recv_until(f"{{{CLIENT}}}iq", timeout=10)
    assert pong.get("id") == "p1" and pong.get("type") == "result"


async def test_output_behind_a_peer_that_does_not_read_is_capped(monkeypatch: Any) -> None:
    monkeypatch.setattr(websocket, "MAX_WRITE_BUFFER", 10_000)
    stuck: asyncio.Future = asyncio.get_running_loop().create_future()

    async def send(message: dict) -> None:  # an ASGI send that waits for a peer that never reads
        await stuck

    transport = websocket.WebSocketTransport(send, {"client": ("127.0.0.1", 1)}, WebSocketFraming(10_000),
                                             is_secure=False)
    assert transport.write(b"<first/>")  # now waiting
    accepted = [transport.write(b"<m>" + b"x" * 1000 + b"</m>") for _ in range(20)]
    assert accepted[:9] == [True] * 9 and accepted[-1] is False
    assert transport.is_closed and not transport._backlog
    stuck.cancel()
    await asyncio.sleep(0)  # let the drain task see the cancellation
