"""XMPP_RATE_LIMIT_BYTES on the transports an ASGI server reads for us (issue 8, "Memory per
connection is bounded on every transport"): `xmppd.transports.rate.Bucket` by itself, and
BOSH on the wire — a burst is waited out, a session that stays over the rate is ended with
`<body type='terminate' condition='policy-violation'/>` (XEP-0124 §11, §17.2)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.transports.conftest_bosh import CLIENT, BoshClient
from xmppd.transports.bosh import table_for
from xmppd.transports.rate import Bucket

pytestmark = pytest.mark.django_db(transaction=True)
RATE = 4096


async def test_a_burst_within_the_rate_passes_at_once() -> None:
    bucket = Bucket(RATE)
    started = time.monotonic()
    assert await bucket.take(RATE // 2) and await bucket.take(RATE // 2)
    assert time.monotonic() - started < 0.05


async def test_a_deficit_is_waited_out() -> None:
    bucket = Bucket(RATE)
    assert await bucket.take(RATE)
    started = time.monotonic()
    assert await bucket.take(RATE // 4)  # a quarter of a second's worth over
    assert time.monotonic() - started >= 0.2


async def test_staying_over_the_rate_is_a_flood(monkeypatch: Any) -> None:
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)  # no real waiting: the clock does not move, the debt only grows

    monkeypatch.setattr(asyncio, "sleep", nap)
    bucket = Bucket(RATE)
    results = [await bucket.take(RATE) for _ in range(5)]
    assert results == [True, True, True, False, False] and len(naps) == 2


async def test_no_limit_never_waits() -> None:
    bucket = Bucket(0)
    assert all([await bucket.take(10 ** 9) for _ in range(3)])


def chat_to_self(jid: str, n: int, size: int) -> str:
    return f"<message xmlns='{CLIENT}' to='{jid}' type='chat' id='m{n}'><body>{'x' * size}</body></message>"


async def test_bosh_input_over_the_rate_waits_then_ends_the_session(make_web: Any) -> None:
    web = await make_web(rate_limit_bytes=RATE)
    try:
        await web.xmpp.add_user("alice")
        c = BoshClient.for_web(web)
        jid = await c.login("alice", hold=1)
        first = await c.send(chat_to_self(jid, 0, RATE // 2))
        assert first.type is None and first.elapsed < 0.3  # within the bucket: at once
        second = await c.send(chat_to_self(jid, 1, RATE))  # over it: held back until paid for
        assert second.type is None and second.elapsed >= 0.3, second.elapsed
        responses = [await c.send(chat_to_self(jid, n, RATE)) for n in range(2, 6)]
        ended = [r for r in responses if r.type == "terminate"]
        assert ended, [r.body[:200] for r in responses]
        assert ended[0].condition == "policy-violation"
        assert ended[0].el.nsmap.get(None) == "http://jabber.org/protocol/httpbind"
        assert table_for(web.xmpp.server).get(c.sid) is None  # the session is gone
        assert (await c.send()).condition == "item-not-found"
    finally:
        table_for(web.xmpp.server).shutdown()
