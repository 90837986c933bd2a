"""The Channels consumer that serves one XMPP stream (ASGI scope type `xmpp`).

The listener (xmppd/transports/tcp.py) puts a transport object in
scope["extensions"]["xmpp.transport"]; this consumer feeds the bytes it receives to
the c2s driver. Cross-process deliveries arrive on this session's channel-layer
channel as {"type": "xmpp.route", "xml": "..."} messages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer

from xmppd.c2s import C2SDriver
from xmppd.server import get_server

log = logging.getLogger(__name__)


class XMPPStreamConsumer(AsyncConsumer):
    """One client stream. Reads straight from `receive` (no per-message task): the hot path."""

    driver: C2SDriver

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = None
        layer_task = None
        transport = scope["extensions"]["xmpp.transport"]
        if self.channel_layer is not None and not isinstance(self.channel_layer, InMemoryChannelLayer):
            # Another process may hold part of the cluster: listen on our channel.
            self.channel_name = await self.channel_layer.new_channel()
            transport.channel_name = self.channel_name
            layer_task = asyncio.get_running_loop().create_task(self._layer_loop())
        server = scope["extensions"].get("xmpp.server") or get_server()
        await server.ensure_started()
        self.driver = C2SDriver(server, transport)
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "xmpp.receive":
                    await self.driver.data_received(message["bytes"])
                elif kind == "xmpp.disconnect":
                    await self.driver.connection_lost()
                    break
        except StopConsumer:
            pass
        finally:
            if layer_task is not None:
                layer_task.cancel()

    async def _layer_loop(self) -> None:
        while True:
            message = await self.channel_layer.receive(self.channel_name)
            try:
                await self.dispatch(message)
            except Exception:
                log.exception("channel-layer message failed")

    async def xmpp_close(self, message: dict) -> None:
        """Another node ends this session (a conflicting bind there, a kick)."""
        if self.driver.session is not None:
            self.driver.session.closer(message.get("condition"))

    async def xmpp_route(self, message: dict) -> None:
        """A stanza another process routed to this session (already serialized)."""
        session = self.driver.session
        if session is not None:
            session.send_bytes(message["xml"].encode())
