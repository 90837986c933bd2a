"""The Module API: how a protocol extension plugs into the server.

A module file exposes `load(server) -> Module`; the `XMPP_MODULES` setting lists them.
A module registers hooks, IQ handlers, disco features and identities, and stream
features. Nothing in the router or the transports changes when a module is added.

A module is loaded on a host (xmppd/hosts.py): `server.module(...)` gives one on the user
hosts (the server's bus, shared by every user domain); `host.module(...)` one on a
component host, whose hooks, IQ handlers, identities and features are that host's alone.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from xmppd.priorities import DEFAULT

if TYPE_CHECKING:
    from xmppd.hooks import HookBus
    from xmppd.hosts import Host
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
    host: "Host | None" = None  # None: the user hosts (the server's own bus)

    @property
    def hooks(self) -> "HookBus":
        return self.host.hooks if self.host is not None else self.server.hooks

    def hook(self, event: str, handler: Callable[..., Any], priority: int = DEFAULT) -> None:
        self.hooks.add(event, handler, priority)

    def iq(self, type_: str, namespace: str, name: str, handler: Callable[..., Any], *,
           scope: str = "host", priority: int = DEFAULT) -> None:
        """Handle <iq type=`type_`> whose child is {namespace}name.

        scope: "host" (to the host's own address), "self" (no 'to', or the sender's own
        bare JID: RFC 6120 §10.3.3; user hosts only), "bare" (to an entity's bare JID:
        another local user, or a room/node on a component).
        The handler gets (stanza: Stanza) and returns a reply element, True when it
        answered by itself, or raises StanzaError.
        """
        self.hooks.add(f"iq-{type_}/{scope}/{namespace}:{name}", handler, priority)

    def add_feature(self, var: str) -> None:
        self.features.append(var)
        (self.host.features if self.host is not None else self.server.features).append(var)

    def add_identity(self, category: str, type_: str, name: str = "") -> None:
        ident = Identity(category, type_, name)
        self.identities.append(ident)
        (self.host.identities if self.host is not None else self.server.identities).append(ident)

    def stream_feature(self, provider: Callable[[Any], etree._Element | None]) -> None:
        """provider(c2s_session) -> a <stream:features/> child, or None; after bind/auth."""
        self.server.stream_features.append(provider)

    def nonza(self, namespace: str, handler: Callable[..., Any]) -> None:
        """Handle top-level non-stanza elements of `namespace` (e.g. XEP-0198)."""
        self.server.nonza_handlers[namespace] = handler

    def session_state(self, key: str, *, replicate: bool = False) -> None:
        """Declare per-session state this module keeps in `session.data[key]`; `replicate`:
        other cluster nodes see it on their RemoteSession (xmppd/cluster.py)."""
        self.server.sessions.declare(key, replicate=replicate)


def load_modules(server: "Server", paths: list[str]) -> list[Module]:
    loaded = []
    for path in paths:
        mod = importlib.import_module(path)
        loaded.append(mod.load(server))
    return loaded
