"""The local session table: who is bound where, with what presence and priority."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from xmppcore.jid import JID

if TYPE_CHECKING:
    pass


class Session:
    """A bound c2s session as modules see it: identity, presence, and a way to send.

    The transport-specific driver (`xmppd.c2s.C2SDriver`) fills in `writer`; everything
    else is protocol state the modules keep here so the hot path needs no database.
    """

    __slots__ = ("jid", "bare", "priority", "presence", "is_available", "is_interested",
                 "directed", "roster", "roster_ver", "writer", "closer", "is_closed",
                 "transport", "connected_at", "last_activity", "pending_iqs", "data",
                 "channel_name", "ip")

    def __init__(self, jid: JID, writer: Callable[[bytes], bool],
                 closer: Callable[[str | None], Any], transport: str = "tcp", ip: str = "") -> None:
        self.jid = jid
        self.bare = jid.bare
        self.priority = 0
        self.presence: etree._Element | None = None  # last broadcast available presence
        self.is_available = False  # sent initial presence, not yet unavailable (RFC 6121 §4.2)
        self.is_interested = False  # requested the roster (RFC 6121 §2.1.6 "interested resource")
        self.directed: set[JID] = set()  # RFC 6121 §4.6: directed presence targets
        self.roster: dict[JID, Any] | None = None  # loaded by the rosters module
        self.roster_ver = None
        self.writer = writer
        self.closer = closer
        self.is_closed = False
        self.transport = transport
        self.connected_at = 0.0
        self.last_activity = 0.0
        self.pending_iqs: dict[str, Any] = {}
        self.data: dict[str, Any] = {}  # per-module state, keyed by module name
        self.channel_name: str | None = None
        self.ip = ip

    def send(self, el: etree._Element) -> bool:
        """Serialize and write one stanza; False when the session can no longer take it."""
        if self.is_closed:
            return False
        return self.writer(etree.tostring(el))

    def send_bytes(self, data: bytes) -> bool:
        if self.is_closed:
            return False
        return self.writer(data)

    def __repr__(self) -> str:
        return f"<Session {self.jid} prio={self.priority} avail={self.is_available}>"


class SessionTable:
    """Bound sessions of this process, by full JID and by bare JID."""

    def __init__(self) -> None:
        self.by_full: dict[JID, Session] = {}
        self.by_bare: dict[JID, dict[str, Session]] = {}

    def add(self, session: Session) -> Session | None:
        """Register; returns the session it replaces (same full JID), if any."""
        old = self.by_full.get(session.jid)
        self.by_full[session.jid] = session
        self.by_bare.setdefault(session.bare, {})[session.jid.resource] = session
        return old

    def remove(self, session: Session) -> None:
        if self.by_full.get(session.jid) is session:
            del self.by_full[session.jid]
            resources = self.by_bare.get(session.bare)
            if resources is not None:
                resources.pop(session.jid.resource, None)
                if not resources:
                    del self.by_bare[session.bare]

    def get(self, jid: JID) -> Session | None:
        return self.by_full.get(jid)

    def resources(self, bare: JID) -> list[Session]:
        resources = self.by_bare.get(bare)
        return list(resources.values()) if resources else []

    def available(self, bare: JID) -> list[Session]:
        resources = self.by_bare.get(bare)
        if not resources:
            return []
        return [s for s in resources.values() if s.is_available]

    def __len__(self) -> int:
        return len(self.by_full)

    def all(self) -> list[Session]:
        return list(self.by_full.values())
