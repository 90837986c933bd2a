"""Typed origins: who put a stanza into the router (DESIGN.md "Hosts and components").

Every `Stanza` carries `origin`, an object with a `kind` and a `send(element)` that answers
its sender (replies and errors go back the way the stanza came):

  CLIENT  a local client session (`xmppd.sessions.Session`; before binding the c2s driver)
  PEER    a server-to-server connection (RFC 6120 `jabber:server`)
  NODE    another node of this cluster that handed a stanza over for routing
  SERVER  the server itself or one of its component hosts (`ServerOrigin`)

Sender-side work (`pre-*` events: carbons' sent copies, privacy out, the archive) runs for
stanzas of local senders (CLIENT and SERVER); a PEER's or a NODE's sender side ran elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

if TYPE_CHECKING:
    from xmppd.hosts import Host

CLIENT = "client"
PEER = "peer"
NODE = "node"
SERVER = "server"
STREAM = "stream"  # a c2s stream that has not bound a resource yet
LOCAL_SENDERS = frozenset((CLIENT, SERVER))


class ServerOrigin:
    """The server (a user host) or a component host as the sender of stanzas.

    `send` is what the router calls to answer such a stanza (an IQ result, an error): the
    answer is routed back to the host's address like any stanza to it, so a component sees
    the errors its own messages caused and `Router.send_iq` futures resolve.
    """

    kind = SERVER
    is_closed = False

    def __init__(self, host: "Host") -> None:
        self.host = host

    @property
    def hooks(self) -> Any:
        return self.host.hooks

    def send(self, el: etree._Element) -> bool:
        self.host.server.router.route_soon(el, self)
        return True

    def __repr__(self) -> str:
        return f"<ServerOrigin {self.host.name}>"
