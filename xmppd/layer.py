"""A session's channel on the channel layer: the one receive loop of every transport.

With a channel layer between processes (Redis), every session has a channel (DESIGN.md):
other nodes send it stanzas they routed (`xmpp.route`, already serialized) and requests to
end it (`xmpp.close`: a conflicting bind or a kick there). TCP, WebSocket and BOSH
sessions all listen with `listen`. The in-memory layer serves one process: no channel.

No silent loss (issue 8): a stanza that reaches the channel when its session can no
longer take it (closed, or gone since the other node routed it) is routed again
(`xmppd.delivery.salvage`: another resource, the offline store, or an error to the sender;
RFC 6121 §8.5.3.2.1 for a resource that is gone). When the connection ends (its receive
loop is cancelled) after a resource was bound, the channel is still read for `GRACE_S` by
a separate task that holds only the channel name, the layer and the server — never the
driver, consumer or transport, which are freed at once — so stanzas already on their way
(sent before the other nodes learnt of the session's end) take the same undeliverable path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer

from xmppd.delivery import salvage

log = logging.getLogger(__name__)
GRACE_S = 2.0  # the cluster's "down" event reaches the other nodes in milliseconds
_draining: set[asyncio.Task] = set()  # strong references to the grace-period readers


async def new_channel(layer: Any = None) -> tuple[Any, str | None]:
    """(layer, channel name) when other processes may route to this one, else (layer, None)."""
    layer = layer if layer is not None else get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return layer, None
    return layer, await layer.new_channel()


def deliver(session: Any, message: dict[str, Any]) -> bytes | None:
    """Act on one channel message for `session` (None: not bound, or gone); the routed
    stanza the session could not take, if any, for the caller to salvage."""
    kind = message.get("type")
    if kind == "xmpp.route":
        data = message["xml"].encode()
        if session is not None and session.send_bytes(data):
            return None
        return data
    if kind == "xmpp.close" and session is not None:
        session.closer(message.get("condition"))
    return None


def listen(layer: Any, channel: str, session_of: Callable[[], Any], server: Any = None) -> asyncio.Task:
    """Start the receive loop of `channel`; cancel the task when the connection ends (with
    `server`, a session that was bound then gets its grace period: see the module text)."""
    return asyncio.get_running_loop().create_task(_receive_loop(layer, channel, session_of, server))


async def _receive_loop(layer: Any, channel: str, session_of: Callable[[], Any], server: Any) -> None:
    try:
        while True:
            message = await layer.receive(channel)
            try:
                undelivered = deliver(session_of(), message)
                if undelivered is not None and server is not None:
                    salvage_soon(server, [undelivered])
            except Exception:  # one bad message must not stop the session's channel
                log.exception("channel-layer message failed")
    except asyncio.CancelledError:
        # An unbound stream (never addressed by anyone) needs no grace period: churn stays free.
        if server is not None and session_of() is not None:
            drain(layer, channel, server, GRACE_S)
        raise


def drain(layer: Any, channel: str, server: Any, grace: float) -> asyncio.Task:
    """Read `channel` for `grace` seconds after its session ended, salvaging every stanza."""
    task = asyncio.get_running_loop().create_task(_drain(layer, channel, server, grace),
                                                  name=f"layer-drain {channel}")
    _draining.add(task)
    task.add_done_callback(_draining.discard)
    return task


async def _drain(layer: Any, channel: str, server: Any, grace: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(layer.receive(channel), remaining)
        except asyncio.TimeoutError:
            return
        except Exception:
            log.exception("channel-layer read after the session ended failed")
            return
        undelivered = deliver(None, message)
        if undelivered is not None:
            try:
                await salvage(server, [undelivered])
            except Exception:
                log.exception("salvaging a stanza for an ended session failed")


def salvage_soon(server: Any, chunks: list[bytes]) -> None:
    """Route again, in a task of its own, stanzas a session or transport could not take."""
    task = asyncio.get_running_loop().create_task(salvage(server, chunks))
    _draining.add(task)
    task.add_done_callback(_draining.discard)
