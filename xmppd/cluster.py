"""Several server nodes for one domain: a replicated session table over Redis.

Every node keeps, next to its own sessions, a `RemoteSession` for each session bound on
another node (like ejabberd's replicated session table). Modules therefore route with
the same local lookups whether a user is here or elsewhere, and the hot path makes no
Redis query: a remote session's `send` puts the serialized stanza on that session's
channel-layer channel (DESIGN.md: the bus carries serialized XML between processes).

Replication: a Redis hash holds every bound session (so a starting node can load the
picture), a pub/sub channel carries changes (up / presence / down), and each node keeps a
heartbeat key so that the sessions of a node that died are dropped by the others.
The bus is at-most-once; durability stays in the database (offline store).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from lxml import etree

from channels.exceptions import ChannelFull

from xmppcore.errors import StanzaError
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza
from xmppd.sessions import BaseSession

if TYPE_CHECKING:
    from xmppd.server import Server
    from xmppd.sessions import Session

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
NODE_TTL_S = 20
SEND_PATIENCE_S = 5.0  # how long a full channel on another node is waited for
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class RemoteSession(BaseSession):
    """A session bound on another node, with the interface modules use on `Session`."""

    __slots__ = ("cluster", "node")

    def __init__(self, cluster: "Cluster", jid: JID, node: str, channel: str) -> None:
        super().__init__(jid, "remote")
        self.cluster = cluster
        self.node = node
        self.channel_name = channel

    def send_bytes(self, data: bytes) -> bool:
        if self.is_closed:
            return False
        self.cluster.send_to_channel(self.channel_name, {"type": "xmpp.route", "xml": data.decode()})
        return True

    def closer(self, condition: str | None) -> None:
        self.cluster.send_to_channel(self.channel_name, {"type": "xmpp.close", "condition": condition})

    def __repr__(self) -> str:
        return f"<RemoteSession {self.jid} on {self.node}>"


def _state(session: Any, node: str, replicated: frozenset[str]) -> dict[str, Any]:
    """What other nodes know of a session: routing state and the module state declared
    replicable (`Module.session_state(key, replicate=True)`), which must be JSON."""
    return {
        "jid": str(session.jid), "node": node, "channel": session.channel_name,
        "priority": session.priority, "available": session.is_available,
        "presence": etree.tostring(session.presence).decode() if session.presence is not None else None,
        "data": {key: session.data[key] for key in replicated if key in session.data},
    }


class Cluster:
    """This node's view of the cluster; `start` it once the event loop runs."""

    def __init__(self, server: "Server", redis_url: str, node: str | None = None,
                 prefix: str = "xmppsite", layer: Any = None) -> None:
        self.server = server
        self.sessions_key = f"{prefix}:sessions"
        self.events_channel = f"{prefix}:cluster"
        self.node_key = f"{prefix}:node:{{}}"
        self.dead_key = f"{prefix}:dead:{{}}"  # claimed by the node that buries that one
        self.redis_url = redis_url
        self.node = node or secrets.token_hex(6)
        self.remote: dict[JID, RemoteSession] = {}
        self._redis: Any = None
        self._layer: Any = layer
        self._tasks: list[asyncio.Task] = []
        # Both queues keep order: RFC 6120 §10.1 in-order processing between two entities,
        # and up/presence/down events of one session must not overtake each other.
        self._events: asyncio.Queue[tuple[str, dict[str, Any], bool]] | None = None
        self._outboxes: dict[str, list[dict[str, Any]]] = {}

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        import redis.asyncio as aioredis
        from channels.layers import get_channel_layer

        self._redis = aioredis.from_url(self.redis_url, decode_responses=True)
        self._layer = self._layer or get_channel_layer()
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.events_channel)
        await self._heartbeat_once()
        await self._load_snapshot()
        loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        self._tasks = [loop.create_task(self._listen(pubsub)), loop.create_task(self._heartbeat()),
                       loop.create_task(self._publisher())]

    async def stop(self) -> None:
        if self._events is not None:
            await asyncio.wait_for(self._events.join(), 5)
        for task in self._tasks:
            task.cancel()
        if self._redis is not None:
            await self._forget_node(self.node)
            await self._redis.delete(self.node_key.format(self.node))
            await self._redis.aclose()
            self._redis = None

    # -- local changes → cluster --------------------------------------------------------
    def session_up(self, session: "Session") -> None:
        self._queue_event("up", _state(session, self.node, self.server.sessions.replicated), True)

    def session_changed(self, session: "Session") -> None:
        if not isinstance(session, RemoteSession):
            self._queue_event("presence", _state(session, self.node, self.server.sessions.replicated), True)

    def session_down(self, session: "Session", *_: Any) -> None:
        if not isinstance(session, RemoteSession):
            self._queue_event("down", {"jid": str(session.jid), "node": self.node}, False)

    def roster_changed(self, bare: JID) -> None:
        """Tell other nodes to drop their cached copy of `bare`'s roster."""
        self._queue_event("roster", {"bare": str(bare), "node": self.node}, False)

    def account_deleted(self, bare: JID) -> None:
        """Tell other nodes that the account `bare` is gone (`cluster/account-deleted`): their
        rosters in memory drop it as this node's did (the database is already clean)."""
        self._queue_event("account-deleted", {"bare": str(bare), "node": self.node}, False)

    def _queue_event(self, op: str, state: dict[str, Any], store: bool) -> None:
        if self._events is not None:
            self._events.put_nowait((op, state, store))

    async def _publisher(self) -> None:
        while True:
            op, state, store = await self._events.get()
            try:
                await self._publish(op, state, store)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster publish failed")
            finally:
                self._events.task_done()

    async def _publish(self, op: str, state: dict[str, Any], store: bool) -> None:
        if self._redis is None:
            return
        if store:
            await self._redis.hset(self.sessions_key, state["jid"], json.dumps(state))
        elif op == "down":
            raw = await self._redis.hget(self.sessions_key, state["jid"])
            if raw and json.loads(raw).get("node") == self.node:
                await self._redis.hdel(self.sessions_key, state["jid"])
        await self._redis.publish(self.events_channel, json.dumps({"op": op, **state}))

    # -- cluster → this node --------------------------------------------------------------
    async def _load_snapshot(self) -> None:
        live = await self._live_nodes()
        for raw in (await self._redis.hgetall(self.sessions_key)).values():
            state = json.loads(raw)
            if state["node"] != self.node and state["node"] in live:
                self._apply_up(state)

    async def _listen(self, pubsub: Any) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                event = json.loads(message["data"])
                if event.get("node") != self.node:
                    await self._apply(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster event failed")
                await asyncio.sleep(0.5)

    async def _apply(self, event: dict[str, Any]) -> None:
        op = event["op"]
        if op == "up":
            self._apply_up(event)
        elif op == "presence":
            self._apply_presence(event)
        elif op == "down":
            self._drop(JID.parse(event["jid"]))
        elif op == "roster":
            await self.server.hooks.fire_all("cluster/roster-changed", JID.parse(event["bare"]))
        elif op == "account-deleted":
            await self.server.hooks.fire_all("cluster/account-deleted", JID.parse(event["bare"]))

    def _apply_up(self, state: dict[str, Any]) -> None:
        jid = JID.parse(state["jid"])
        local = self.server.sessions.by_full.get(jid)
        if local is not None and not isinstance(local, RemoteSession):
            # RFC 6120 §7.7.2.2: the newer session (the one just bound elsewhere) wins.
            local.closer("conflict")
        remote = RemoteSession(self, jid, state["node"], state["channel"])
        self.remote[jid] = remote
        self.server.sessions.add(remote)
        self._apply_presence(state)

    def _apply_presence(self, state: dict[str, Any]) -> None:
        remote = self.remote.get(JID.parse(state["jid"]))
        if remote is None:
            return
        remote.priority = state.get("priority", 0)
        remote.is_available = bool(state.get("available"))
        remote.data = dict(state.get("data") or {})
        xml = state.get("presence")
        remote.presence = etree.fromstring(xml) if xml else None

    def _drop(self, jid: JID) -> None:
        remote = self.remote.pop(jid, None)
        if remote is not None:
            remote.is_closed = True
            self.server.sessions.remove(remote)

    # -- node liveness ----------------------------------------------------------------------
    async def _heartbeat_once(self) -> None:
        await self._redis.set(self.node_key.format(self.node), "1", ex=NODE_TTL_S)

    async def _live_nodes(self) -> set[str]:
        keys = [key async for key in self._redis.scan_iter(self.node_key.format("*"))]
        return {key.rsplit(":", 1)[1] for key in keys}

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._heartbeat_once()
                live = await self._live_nodes()
                for node in {remote.node for remote in self.remote.values()} - live:
                    await self._bury(node)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster heartbeat failed")

    async def _bury(self, node: str) -> None:
        """A node died (no heartbeat for NODE_TTL_S, e.g. SIGKILL): its sessions are gone.
        One surviving node — the one whose SET NX claims the dead node — ends them as the dead
        node would have (`session/closed`: the unavailable broadcast of RFC 6121 §4.5.2 to
        contacts on every node, last activity); the others only drop them."""
        gone = [remote for remote in self.remote.values() if remote.node == node]
        claimed = await self._redis.set(self.dead_key.format(node), self.node, nx=True, ex=NODE_TTL_S * 6)
        for remote in gone:
            self.remote.pop(remote.jid, None)
            self.server.sessions.remove(remote)
        if not claimed:
            for remote in gone:
                remote.is_closed = True
            return
        log.warning("node %s is dead: ending its %d sessions", node, len(gone))
        await self._forget_node(node)
        for remote in gone:
            try:
                await self.server.hooks.fire_all("session/closed", remote, None)
            finally:
                remote.is_closed = True

    async def _forget_node(self, node: str) -> None:
        """Drop the rows of `node` from the session hash (a JID bound again elsewhere since
        has a row naming its new node: it stays)."""
        rows = await self._redis.hgetall(self.sessions_key)
        stale = [full for full, raw in rows.items() if json.loads(raw).get("node") == node]
        if stale:
            await self._redis.hdel(self.sessions_key, *stale)

    # -- sending ------------------------------------------------------------------------------
    def send_to_channel(self, channel: str, message: dict[str, Any]) -> None:
        """Queue for `channel`; one drain task per channel keeps the order."""
        outbox = self._outboxes.get(channel)
        if outbox is not None:
            outbox.append(message)
            return
        self._outboxes[channel] = [message]
        asyncio.get_running_loop().create_task(self._drain(channel))

    async def _drain(self, channel: str) -> None:
        outbox = self._outboxes[channel]
        try:
            while outbox:
                message = outbox.pop(0)
                if not await self._hand_over(channel, message):
                    # The other side is stuck: what is queued behind does not wait its turn.
                    await self._undeliverable(message)
                    while outbox:
                        await self._undeliverable(outbox.pop(0))
        finally:
            del self._outboxes[channel]

    async def _hand_over(self, channel: str, message: dict[str, Any]) -> bool:
        """Back-pressure: a full channel (the other node reads slower than we send) is retried
        with a growing pause, about SEND_PATIENCE_S in all, keeping the order of the outbox."""
        delay = 0.005
        waited = 0.0
        while True:
            try:
                await self._layer.send(channel, message)
                return True
            except ChannelFull:
                if waited >= SEND_PATIENCE_S:
                    log.warning("cluster channel %s stayed full for %.1f s", channel, waited)
                    return False
            except Exception as exc:  # Redis down: the stanza goes the undeliverable way
                log.warning("cluster send to %s failed: %s", channel, exc)
                return False
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)

    async def _undeliverable(self, message: dict[str, Any]) -> None:
        """A stanza the other node could not take: a message is offered to the offline store,
        anything else that wants an answer is bounced (RFC 6121 §8.5.3.2.1, RFC 6120 §8.3)."""
        if message.get("type") != "xmpp.route":
            return
        el = etree.fromstring(message["xml"].encode(), _PARSER)
        router = self.server.router
        try:
            to, from_ = JID.parse(el.get("to", "")), JID.parse(el.get("from", ""))
        except InvalidJID:
            return
        stanza = Stanza(el, etree.QName(el).localname, to, from_, router.origin_of(from_))
        if stanza.name == "message" and await self.server.hooks.fire("message/offline", stanza):
            return
        if stanza.name != "presence":
            router.bounce(stanza, StanzaError("service-unavailable"))
