""""Nothing more arrives", checked exactly: a XEP-0199 ping to the server and its reply.

The server answers a client's stanzas in order on one stream (xmppd/c2s.py routes each stanza
before reading the next), so once the pong is in, everything the server sent before it has been
received: asserting that no stanza of some kind came is exact, with no sleep to tune."""

from __future__ import annotations

import asyncio
import itertools
import re
import xml.etree.ElementTree as ET
from typing import Any, Callable

from slixmpp.exceptions import IqError

PING = "urn:xmpp:ping"
_ids = itertools.count(1)


async def settle(*clients: Any, timeout: float = 5.0) -> None:
    """Ping the server from each slixmpp client in turn and wait for each reply (XEP-0199 §4.2).

    Give the senders first and the receiver last: the senders' stanzas are then routed, and
    what they caused is on the receiver's stream before its pong."""
    for client in clients:
        iq = client.make_iq_get(ito=client.boundjid.domain)
        iq.xml.append(ET.Element(f"{{{PING}}}ping"))
        try:
            await iq.send(timeout=timeout)
        except IqError:
            pass  # an error reply is a reply too: it came after everything before it


async def nothing_more(client: Any, queue: asyncio.Queue, predicate: Callable[[Any], bool] = lambda _: True,
                       *, after: tuple[Any, ...] = (), timeout: float = 5.0) -> None:
    """Fail if `queue` (filled by `client`'s event handlers) holds a stanza matching `predicate`
    once the server answered a ping from each client of `after`, then from `client`.
    Stanzas that do not match stay queued, in order."""
    await settle(*after, client, timeout=timeout)
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    unexpected = [item for item in items if predicate(item)]
    for item in items:
        if not predicate(item):
            queue.put_nowait(item)
    assert not unexpected, f"unexpected stanza(s): {[str(item) for item in unexpected]}"


def raw_ping(raw: Any) -> str:
    """Send a XEP-0199 ping on a RawClient (or anything with .send); return its id."""
    ping_id = f"settle-{next(_ids)}"
    raw.send(f"<iq type='get' id='{ping_id}'><ping xmlns='{PING}'/></iq>")
    return ping_id


async def raw_settle(raw: Any, timeout: float = 5.0) -> bytes:
    """Ping on a bound RawClient and read up to the reply: return what the server sent before it.

    The reply itself is cut out of `raw.buffer`; what came before it stays there."""
    ping_id = raw_ping(raw)
    pong = re.compile(rf"<iq[^>]*id=['\"]{ping_id}['\"][^>]*(/>|>.*?</iq>)".encode(), re.S)
    await raw.read_until(pong.pattern, timeout)
    match = pong.search(raw.buffer)
    before = raw.buffer[:match.start()]
    raw.buffer = before + raw.buffer[match.end():]
    return before


async def raw_nothing_more(raw: Any, pattern: bytes | str, timeout: float = 5.0) -> None:
    """Fail if `pattern` (a regex) is in what a RawClient received before the reply to a ping."""
    before = await raw_settle(raw, timeout)
    pat = pattern.encode() if isinstance(pattern, str) else pattern
    assert not re.search(pat, before, re.S), f"unexpected {pat!r} in {before!r}"
