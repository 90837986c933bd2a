"""RFC 6121 §8.5: delivering messages to local users.

Bare JID: the available resources of highest non-negative priority (headlines to all
non-negative ones); nobody available → the offline store, else an error. Full JID:
that resource, else the bare-JID rules (§8.5.3.2.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza
from xmppd.delivery import deliver_to_resources
from xmppd.priorities import DELIVER

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session


def _targets(sessions: list["Session"], message_type: str) -> list["Session"]:
    candidates = [s for s in sessions if s.is_available and s.priority >= 0]
    if message_type == "headline" or not candidates:
        return candidates
    top = max(s.priority for s in candidates)
    return [s for s in candidates if s.priority == top]


class MessageDelivery:
    def __init__(self, server: "Server") -> None:
        self.server = server

    async def to_bare(self, stanza: Stanza) -> bool:
        mtype = stanza.type or "normal"
        if mtype == "error":  # §8.5.2.1.1 / §8.5.2.2: errors to a bare JID are ignored
            return True
        if mtype == "groupchat":  # §8.5.2.1.1: never delivered to a user's resources
            raise StanzaError("service-unavailable")
        sessions = self.server.sessions.resources(stanza.to)
        targets = _targets(sessions, mtype)
        if targets and deliver_to_resources(self.server, targets, stanza.el):
            return True
        return await self._undeliverable(stanza, mtype, account_known=bool(sessions))

    async def _undeliverable(self, stanza: Stanza, mtype: str, account_known: bool) -> bool:
        hooks = self.server.hooks
        to = stanza.to
        if not account_known and not await hooks.fire("account/exists", to.local, to.domain):
            if mtype == "headline":
                return True
            raise StanzaError("service-unavailable")  # §8.5.2.2: no such user
        if mtype == "headline":  # §8.5.2.1.2: headlines are not stored
            return True
        if await hooks.fire("message/offline", stanza):
            return True
        raise StanzaError("service-unavailable")

    async def to_full(self, stanza: Stanza) -> bool:
        session = self.server.sessions.by_full.get(stanza.to)
        if session is not None and session.send(stanza.el):
            return True  # §8.5.3.1
        mtype = stanza.type or "normal"
        if mtype == "error":
            return True
        if mtype == "groupchat":  # §8.5.3.2.1
            raise StanzaError("service-unavailable")
        stanza.to = stanza.to.bare
        return await self.to_bare(stanza)


def load(server: "Server") -> "Module":
    module = server.module("message", xep="RFC 6121", title="Messaging (§5, §8.5)", version="RFC 6121")
    delivery = MessageDelivery(server)
    module.hook("message/bare", delivery.to_bare, DELIVER)
    module.hook("message/full", delivery.to_full, DELIVER)
    return module
