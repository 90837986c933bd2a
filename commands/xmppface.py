"""What the registry's XMPP faces (XEP-0009 Jabber-RPC, XEP-0072 SOAP) share: who is calling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commands.permissions import actor_for_jid, may_use
from commands.registry import Actor
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza

if TYPE_CHECKING:
    from xmppd.server import Server


class XmppFace:
    """A face's handlers, with the server whose hosted domains make a caller a local user."""

    source = "xmpp"  # Actor.source of its callers
    title = "this interface"

    def __init__(self, server: "Server") -> None:
        self.server = server

    def caller(self, stanza: Stanza) -> Actor:
        """The requester as an Actor; <forbidden/> for entities that may not use the face at
        all (XEP-0009 §5, XEP-0072 §6: an XMPP-level refusal, not a fault)."""
        actor = actor_for_jid(stanza.from_, self.source) if stanza.from_ is not None else None
        if actor is None or not may_use(actor, self.server.config.domains):
            raise StanzaError("forbidden", f"{self.title} is for the users and administrators of this server")
        return actor
