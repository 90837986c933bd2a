"""A session's channel on the channel layer: the one receive loop of every transport.

With a channel layer between processes (Redis), every session has a channel (DESIGN.md):
other nodes send it stanzas they routed (`xmpp.route`, already serialized) and requests to
end it (`xmpp.close`: a conflicting bind or a kick there). TCP, WebSocket and BOSH
sessions all listen with `listen`. The in-memory layer serves one process: no channel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger(__name__)


async def new_channel(layer: Any = None) -> tuple[Any, str | None]:
    """(layer, channel name) when other processes may route to this one, else (layer, None)."""
    layer = layer if layer is not None else get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return layer, None
    return layer, await layer.new_channel()


def deliver(session: Any, message: dict[str, Any]) -> None:
    """Act on one channel message for `session` (None: not bound yet, nothing to do)."""
    if session is None:
        return
    kind = message.get("type")
    if kind == "xmpp.route":
        session.send_bytes(message["xml"].encode())
    elif kind == "xmpp.close":
        session.closer(message.get("condition"))


def listen(layer: Any, channel: str, session_of: Callable[[], Any]) -> asyncio.Task:
    """Start the receive loop of `channel`; cancel the task when the connection ends."""
    return asyncio.get_running_loop().create_task(_receive_loop(layer, channel, session_of))


async def _receive_loop(layer: Any, channel: str, session_of: Callable[[], Any]) -> None:
    while True:
        message = await layer.receive(channel)
        try:
            deliver(session_of(), message)
        except Exception:  # one bad message must not stop the session's channel
            log.exception("channel-layer message failed")
