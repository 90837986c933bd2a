"""The Channels consumer that serves one XMPP stream (ASGI scope type `xmpp`).

The listener (xmppd/transports/tcp.py) puts a transport object in
scope["extensions"]["xmpp.transport"]; this consumer feeds the bytes it receives to
the c2s driver. Cross-process deliveries arrive on this session's channel-layer
channel as {"type": "xmpp.route", "xml": "..."} messages.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

from xmppd import layer
from xmppd.c2s import C2SDriver
from xmppd.server import get_server

log = logging.getLogger(__name__)


class XMPPStreamConsumer(AsyncConsumer):
    """One client stream. Reads straight from `receive` (no per-message task): the hot path."""

    driver: C2SDriver

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        transport = scope["extensions"]["xmpp.transport"]
        self.channel_layer, self.channel_name = await layer.new_channel(
            get_channel_layer(self.channel_layer_alias))
        transport.channel_name = self.channel_name
        server = scope["extensions"].get("xmpp.server") or get_server()
        await server.ensure_started()
        self.driver = C2SDriver(server, transport)
        layer_task = None
        if self.channel_name is not None:  # another process may hold part of the cluster
            layer_task = layer.listen(self.channel_layer, self.channel_name, lambda: self.driver.session, server)
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
