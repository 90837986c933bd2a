"""Operator operations on pubsub nodes (operator commands, the Django admin): purge a node,
delete a node, delete an item, written through `pubsub.actions` and — when this process runs
the server — notified to the subscribers like the protocol's own (XEP-0060 §8.5.2 <purge/>,
§8.4.2 <delete/>, §7.2.2.1 <retract/>), so they see the change on the wire.

The server registers its notifier here when it starts (`register`); the coroutines below run
on the server's loop (the commands are called there), `call` brings them there from another
thread (the Django admin's).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from pubsub import actions
from pubsub.notify import Notifier
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

CALL_TIMEOUT = 10.0


@dataclass
class Live:
    server: "Server"
    notifier: Notifier
    loop: asyncio.AbstractEventLoop | None = None

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run `fn(*args)` on the server's loop from another thread; its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args), self.loop).result(CALL_TIMEOUT)


LIVE: dict[int, Live] = {}  # id(server) -> its notifier and loop, while it runs


def register(server: "Server", notifier: Notifier) -> None:
    """Called by `pubsub.xmpp.load`: the notifier is reachable once the server has started,
    until it stops."""
    entry = Live(server, notifier)

    async def started(*_args: Any) -> None:
        entry.loop = asyncio.get_running_loop()
        LIVE[id(server)] = entry

    async def stopping(*_args: Any) -> None:
        if LIVE.get(id(server)) is entry:
            del LIVE[id(server)]

    server.hooks.add("server/started", started)
    server.hooks.add("server/stopping", stopping)


def live() -> Live | None:
    """The running server of this process (the admin's way in), or None."""
    for entry in list(LIVE.values()):
        if entry.loop is not None and entry.loop.is_running() and not entry.loop.is_closed():
            return entry
    return None


def _notifier() -> Notifier | None:
    """The notifier of the server running on this loop (None: no subscriber to tell here)."""
    loop = asyncio.get_running_loop()
    for entry in list(LIVE.values()):
        if entry.loop is loop:
            return entry.notifier
    return None


async def purge_node(service: str, name: str) -> int | None:
    """§8.5: every item removed; subscribers get <purge/> when notify_retract. None: no node."""
    node = await db(actions.load_node, service, name)
    if node is None:
        return None
    count = await db(actions.do_purge_node, service, name)
    notifier = _notifier()
    if notifier is not None and node.notify_on("retract"):
        await notifier.purged(node)
    return count


async def delete_node(service: str, name: str) -> bool:
    """§8.4: the node deleted; subscribers get <delete/> when notify_delete."""
    node = await db(actions.do_delete_node, service, name)
    if node is None:
        return False
    notifier = _notifier()
    if notifier is not None and node.notify_on("delete"):
        await notifier.deleted(node, None)
    return True


async def retract_item(service: str, name: str, item_id: str) -> bool:
    """§7.2: one item deleted; subscribers get <retract/> when notify_retract."""
    node = await db(actions.load_node, service, name)
    if node is None or not await db(actions.do_retract, service, name, item_id):
        return False
    notifier = _notifier()
    if notifier is not None and node.notify_on("retract"):
        await notifier.retracted(node, [item_id])
    return True
