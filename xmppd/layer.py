"""A session's channel on the channel layer: the one receive loop of every transport.

With a channel layer between processes (Redis), every session has a channel (DESIGN.md):
other nodes send it stanzas they routed (`xmpp.route`, already serialized) and requests to
end it (`xmpp.close`: a conflicting bind or a kick there). TCP, WebSocket and BOSH
sessions all listen with `listen`. The in-memory layer serves one process: no channel.

A stanza that reaches the channel when its session can no longer take it (closed, detached,
or gone since the other node routed it) is routed again here (`xmppd.delivery.salvage`:
another resource, the offline store, or an error to the sender), and the loop outlives the
connection by `GRACE_S` (`stop_later`) so that stanzas still in flight are not lost while
the other nodes learn the session is gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer

from xmppd.delivery import salvage

log = logging.getLogger(__name__)
GRACE_S = 2.0  # the cluster's "down" event reaches the other nodes in milliseconds


async def new_channel(layer: Any = None) -> tuple[Any, str | None]:
    """(layer, channel name) when other processes may route to this one, else (layer, None)."""
    layer = layer if layer is not None else get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return layer, None
    return layer, await layer.new_channel()


def deliver(session: Any, message: dict[str, Any], server: Any = None) -> None:
    """Act on one channel message for `session` (None: not bound, or gone)."""
    kind = message.get("type")
    if kind == "xmpp.route":
        data = message["xml"].encode()
        if session is not None and not session.is_closed and session.send_bytes(data):
            return
        if server is not None:  # never silently dropped (RFC 6121 §8.5.3.2.1 for a gone resource)
            asyncio.get_running_loop().create_task(salvage(server, [data]))
    elif kind == "xmpp.close" and session is not None:
        session.closer(message.get("condition"))


def listen(layer: Any, channel: str, session_of: Callable[[], Any], server: Any = None) -> asyncio.Task:
    """Start the receive loop of `channel`; end it with `stop_later` when the connection ends."""
    return asyncio.get_running_loop().create_task(_receive_loop(layer, channel, session_of, server))


def stop_later(task: asyncio.Task, grace: float = GRACE_S) -> None:
    """Keep routing what still arrives for a while, then stop the loop."""
    asyncio.get_running_loop().call_later(grace, task.cancel)


async def _receive_loop(layer: Any, channel: str, session_of: Callable[[], Any], server: Any) -> None:
    while True:
        message = await layer.receive(channel)
        try:
            deliver(session_of(), message, server)
        except Exception:  # one bad message must not stop the session's channel
            log.exception("channel-layer message failed")
