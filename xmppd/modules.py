"""The Module API: how a protocol extension plugs into the server.

A module file exposes `load(server) -> Module`; the `XMPP_MODULES` setting lists them.
A module registers hooks, IQ handlers, disco features and identities, and stream
features. Nothing in the router or the transports changes when a module is added.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

if TYPE_CHECKING:
    from xmppd.server import Server


@dataclass(frozen=True)
class Identity:
    category: str
    type: str
    name: str = ""


@dataclass
class Module:
    """One protocol extension's registrations and its metadata for `xep_report`."""

    server: "Server"
    name: str
    xep: str | None = None  # "XEP-0199" or "RFC 6121"
    title: str = ""
    version: str = ""  # version of the spec implemented
    status: str = "complete"  # complete | partial
    notes: str = ""
    features: list[str] = field(default_factory=list)
    identities: list[Identity] = field(default_factory=list)

    def hook(self, event: str, handler: Callable[..., Any], priority: int = 0) -> None:
        self.server.hooks.add(event, handler, priority)

    def iq(self, type_: str, namespace: str, name: str, handler: Callable[..., Any], *,
           scope: str = "host", priority: int = 0) -> None:
        """Handle <iq type=`type_`> whose child is {namespace}name.

        scope: "host" (to the server's domain), "self" (no 'to', or the sender's own
        bare JID: RFC 6120 §10.3.3), "bare" (to another local user's bare JID).
        The handler gets (stanza: Stanza) and returns a reply element, True when it
        answered by itself, or raises StanzaError.
        """
        self.server.hooks.add(f"iq-{type_}/{scope}/{namespace}:{name}", handler, priority)

    def add_feature(self, var: str) -> None:
        self.features.append(var)
        self.server.features.append(var)

    def add_identity(self, category: str, type_: str, name: str = "") -> None:
        ident = Identity(category, type_, name)
        self.identities.append(ident)
        self.server.identities.append(ident)

    def stream_feature(self, provider: Callable[[Any], etree._Element | None]) -> None:
        """provider(c2s_session) -> a <stream:features/> child, or None; after bind/auth."""
        self.server.stream_features.append(provider)

    def nonza(self, namespace: str, handler: Callable[..., Any]) -> None:
        """Handle top-level non-stanza elements of `namespace` (e.g. XEP-0198)."""
        self.server.nonza_handlers[namespace] = handler


def load_modules(server: "Server", paths: list[str]) -> list[Module]:
    loaded = []
    for path in paths:
        mod = importlib.import_module(path)
        loaded.append(mod.load(server))
    return loaded
