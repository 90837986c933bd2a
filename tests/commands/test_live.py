"""The seam to the running server: stanzas handed over by a worker without a server in its
process travel on the channel layer (ROUTE_CHANNEL) and are routed by xmppd; on_server."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from commands import live
from commands.builtin.messages import message_element
from commands.runtime import Runtime
from tests.clients import connect
from tests.commands.helpers import wait_for
from xmppd.storage import db


async def test_worker_in_another_process_delivers_through_the_channel_layer(xmpp) -> None:
    await xmpp.add_user("alice")
    alice = await connect(xmpp, "alice@localhost")
    await wait_for(lambda: all(s.is_available for s in xmpp.server.sessions.all()))
    runtime = Runtime(xmpp.server)
    listener = asyncio.get_running_loop().create_task(runtime.route_loop(get_channel_layer()))
    running = live.current()
    live.set_running(None)  # what a Celery worker process sees: no server here
    try:
        await db(live.deliver, message_element("localhost", "alice@localhost", "via the layer"))
    finally:
        live.set_running(running.server, running.loop)
    msg = await alice.next_message()
    assert msg["body"] == "via the layer" and msg["from"].full == "localhost"
    listener.cancel()


async def test_on_server_refuses_to_block_the_servers_own_loop(xmpp) -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="own loop"):
        live.on_server(nothing)
    assert await asyncio.to_thread(live.on_server, nothing) is None
