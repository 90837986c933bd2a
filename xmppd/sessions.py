"""Sessions and the session table (DESIGN.md "Sessions and their lifetime").

A session is the user's presence in the server, not the socket. `BaseSession` is what every
module may rely on, whether the session is bound here (`Session`) or on another cluster
node (`xmppd.cluster.RemoteSession`): its JID, presence state and a way to send.

A local `Session` writes through a `writer` its transport gave it. It can be *detached*
from its transport (the connection is gone but the session lives on: XEP-0198 resumption,
BOSH between requests) and *attached* to a new one; while detached, `send` returns False
unless an outbound filter took the stanza. Outbound filters see every stanza written to the
session (XEP-0198 counting, XEP-0352 queueing): `filter(session, data, element_or_None)`
returns the bytes to write, or None when it took the stanza itself.

State a module keeps per session lives in `session.data[key]`, declared by the module
(`Module.session_state`); declared `replicate=True`, it travels with the session to the
other cluster nodes (set it with `SessionTable.set_state`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from xmppcore.jid import JID
from xmppd.origin import CLIENT

if TYPE_CHECKING:
    from xmppd.hooks import HookBus

Writer = Callable[[bytes], bool]
Closer = Callable[[str | None], Any]
OutboundFilter = Callable[["Session", bytes, "etree._Element | None"], "bytes | None"]


class BaseSession(ABC):
    """A bound resource as modules see it: identity, presence, module state, a way to send."""

    __slots__ = ("jid", "bare", "priority", "presence", "is_available", "is_closed", "transport",
                 "channel_name", "data", "ip", "connected_at", "last_activity")
    kind = CLIENT  # xmppd.origin: stanzas it sends come from a local client

    def __init__(self, jid: JID, transport: str, ip: str = "") -> None:
        self.jid = jid
        self.bare = jid.bare
        self.priority = 0
        self.presence: etree._Element | None = None  # last broadcast available presence
        self.is_available = False  # sent initial presence, not yet unavailable (RFC 6121 §4.2)
        self.is_closed = False
        self.transport = transport
        self.channel_name: str | None = None
        self.data: dict[str, Any] = {}  # per-module state, keyed as the module declared it
        self.ip = ip
        self.connected_at = 0.0
        self.last_activity = 0.0

    def send(self, el: etree._Element) -> bool:
        return self.send_bytes(etree.tostring(el))

    @abstractmethod
    def send_bytes(self, data: bytes) -> bool:
        """Write serialized stanza(s); False when the session can no longer take them."""

    @abstractmethod
    def closer(self, condition: str | None) -> Any:
        """End the session, with a stream error `condition` (None: a clean close)."""


class Session(BaseSession):
    """A session bound on this node; its transport driver (`xmppd.c2s`) gives the writer."""

    __slots__ = ("writer", "_closer", "outbound", "is_detached", "received")

    def __init__(self, jid: JID, writer: Writer, closer: Closer, transport: str = "tcp",
                 ip: str = "") -> None:
        super().__init__(jid, transport, ip)
        self.writer: Writer | None = writer
        self._closer = closer
        self.outbound: tuple[OutboundFilter, ...] = ()
        self.is_detached = False
        self.received = 0  # stanzas the client sent on this session (XEP-0198 counts them)

    def send(self, el: etree._Element) -> bool:
        """Serialize and write one stanza; False when the session can no longer take it."""
        if self.is_closed:
            return False
        if self.outbound:
            return self._filtered(etree.tostring(el), el)
        writer = self.writer
        return writer(etree.tostring(el)) if writer is not None else False

    def send_bytes(self, data: bytes) -> bool:
        if self.is_closed:
            return False
        if self.outbound:
            return self._filtered(data, None)
        writer = self.writer
        return writer(data) if writer is not None else False

    def _filtered(self, data: bytes, el: etree._Element | None) -> bool:
        for outbound in self.outbound:
            result = outbound(self, data, el)
            if result is None:
                return True  # the filter took it (queued, counted for resending)
            data = result
        writer = self.writer
        return writer(data) if writer is not None else False

    def closer(self, condition: str | None) -> Any:
        """End the session (conflict, kick, timeout, shutdown) through its transport."""
        return self._closer(condition)

    # -- outbound filters and the transport ---------------------------------------------
    def add_outbound(self, outbound: OutboundFilter) -> None:
        self.outbound = (*self.outbound, outbound)

    def remove_outbound(self, outbound: OutboundFilter) -> None:
        self.outbound = tuple(f for f in self.outbound if f is not outbound)

    def detach(self) -> None:
        """The transport is gone; the session stays bound and present (XEP-0198 §5)."""
        self.writer = None
        self.is_detached = True

    def set_closer(self, closer: Closer) -> None:
        """Who ends a detached session (a conflict, a kick): the module that keeps it."""
        self._closer = closer

    def attach(self, writer: Writer, closer: Closer, transport: str, ip: str = "") -> None:
        """A new transport takes the session over (XEP-0198 resumption)."""
        self.writer = writer
        self._closer = closer
        self.transport = transport
        self.ip = ip or self.ip
        self.is_detached = False

    def __repr__(self) -> str:
        return f"<Session {self.jid} prio={self.priority} avail={self.is_available}>"


class SessionTable:
    """Bound sessions (local and, in a cluster, remote) by full JID and by bare JID."""

    def __init__(self, hooks: "HookBus | None" = None) -> None:
        self.by_full: dict[JID, BaseSession] = {}
        self.by_bare: dict[JID, dict[str, BaseSession]] = {}
        self.hooks = hooks
        self.state_keys: set[str] = set()
        self.replicated: frozenset[str] = frozenset()

    # -- module state --------------------------------------------------------------------
    def declare(self, key: str, *, replicate: bool = False) -> None:
        self.state_keys.add(key)
        if replicate:
            self.replicated = self.replicated | {key}

    def set_state(self, session: BaseSession, key: str, value: Any) -> None:
        """Set (None: remove) a module's state of `session`; replicated keys are published."""
        if value is None:
            changed = session.data.pop(key, None) is not None
        else:
            changed = session.data.get(key) != value
            session.data[key] = value
        if changed and key in self.replicated and self.hooks is not None:
            self.hooks.fire_sync("session/state-changed", session)

    # -- the table -------------------------------------------------------------------------
    def add(self, session: BaseSession) -> BaseSession | None:
        """Register; returns the session it replaces (same full JID), if any."""
        old = self.by_full.get(session.jid)
        self.by_full[session.jid] = session
        self.by_bare.setdefault(session.bare, {})[session.jid.resource] = session
        return old

    def remove(self, session: BaseSession) -> None:
        if self.by_full.get(session.jid) is session:
            del self.by_full[session.jid]
            resources = self.by_bare.get(session.bare)
            if resources is not None:
                resources.pop(session.jid.resource, None)
                if not resources:
                    del self.by_bare[session.bare]

    def get(self, jid: JID) -> BaseSession | None:
        return self.by_full.get(jid)

    def resources(self, bare: JID) -> list[BaseSession]:
        resources = self.by_bare.get(bare)
        return list(resources.values()) if resources else []

    def available(self, bare: JID) -> list[BaseSession]:
        resources = self.by_bare.get(bare)
        if not resources:
            return []
        return [s for s in resources.values() if s.is_available]

    def local(self) -> list[Session]:
        return [s for s in self.by_full.values() if isinstance(s, Session)]

    def __len__(self) -> int:
        return len(self.by_full)

    def all(self) -> list[BaseSession]:
        return list(self.by_full.values())
