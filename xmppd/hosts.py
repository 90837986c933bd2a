"""Hosts: every address the server answers for (DESIGN.md "Hosts and components").

A *user host* is a domain of `XMPP_DOMAINS`: accounts, rosters, presence. User hosts share
the server's event bus, identities and features: every user domain runs the same modules
(Prosody's global modules, ejabberd's per-host modules configured alike).

A *component host* is a service on an address of its own — `conference.<domain>`,
`pubsub.<domain>`, `proxy.<domain>`, `upload.<domain>` — with its own event bus, disco
identity and features, stanza handlers and ad-hoc commands (Prosody's `Component`).
The router fires a component's events on the component's bus only, so a stanza for a room
never reaches user delivery. Which address each service has is a setting
(`XMPP_MUC_HOST = "conference.{domain}"`, empty = the service is off); the component
exists once a module claims the service with `server.hosts.add_component(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from xmppd.hooks import HookBus
from xmppd.modules import Identity, Module
from xmppd.origin import ServerOrigin

if TYPE_CHECKING:
    from xmppd.server import Server

USER = "user"
COMPONENT = "component"


@dataclass(eq=False)
class Host:
    """One address the server answers for, with the modules loaded on it."""

    server: "Server"
    name: str
    kind: str  # USER | COMPONENT
    hooks: HookBus
    identities: list[Identity]
    features: list[str]
    parent: str  # the user domain a component belongs to (a user host: itself)
    service: str = ""  # a component's service ("muc", "pubsub", ...)
    modules: list[Module] = field(default_factory=list)
    origin: ServerOrigin = field(init=False)

    def __post_init__(self) -> None:
        self.origin = ServerOrigin(self)

    @property
    def is_component(self) -> bool:
        return self.kind == COMPONENT

    def module(self, name: str, **meta: Any) -> Module:
        """A module loaded on this host: its hooks, IQ handlers and features are this host's."""
        mod = Module(self.server, name, host=self, **meta)
        self.modules.append(mod)
        self.server.modules.append(mod)
        return mod

    def __repr__(self) -> str:
        return f"<Host {self.kind} {self.name}>"


class HostTable:
    """`server.hosts`: name → Host, for user domains and component services."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self._hosts: dict[str, Host] = {}
        self._services: dict[str, tuple[list[Identity], Callable[[Host], Any]]] = {}

    # -- lookups (the router's, once per stanza) ------------------------------------------
    def get(self, name: str) -> Host | None:
        return self._hosts.get(name)

    def __getitem__(self, name: str) -> Host:
        return self._hosts[name]

    def __contains__(self, name: object) -> bool:
        return name in self._hosts

    def __iter__(self) -> Iterator[Host]:
        return iter(list(self._hosts.values()))

    def __len__(self) -> int:
        return len(self._hosts)

    def users(self) -> list[Host]:
        return [h for h in self._hosts.values() if h.kind == USER]

    def components(self, parent: str | None = None, service: str | None = None) -> list[Host]:
        return [h for h in self._hosts.values() if h.kind == COMPONENT
                and (parent is None or h.parent == parent) and (service is None or h.service == service)]

    # -- changes --------------------------------------------------------------------------
    def set_user_domains(self, domains: list[str]) -> None:
        """The user hosts are exactly `domains` (start-up, `reload`); components follow their parent."""
        wanted = set(domains)
        for name, host in list(self._hosts.items()):
            if (host.kind == USER and name not in wanted) or (host.kind == COMPONENT and host.parent not in wanted):
                del self._hosts[name]
        server = self.server
        for domain in domains:
            if domain not in self._hosts:
                self._hosts[domain] = Host(server, domain, USER, server.hooks, server.identities,
                                           server.features, parent=domain)
        for service, (identities, setup) in self._services.items():
            self.add_component(service, identities, setup)

    def add_component(self, service: str, identities: list[Identity],
                      setup: Callable[[Host], Any]) -> list[Host]:
        """Claim `service` for every user domain: one component host per domain, named by the
        service's setting, [] when the service is turned off. `setup(host)` loads the service's
        modules on each new host (also on those of user domains added later by `reload`);
        `host/added` (host) is fired on the server's bus after it."""
        self._services[service] = (identities, setup)
        template = self.server.config.components.get(service, "")
        if not template:
            return []
        made = []
        for user_host in self.users():
            name = template.format(domain=user_host.name).lower()
            host = self._hosts.get(name)
            if host is None:
                host = Host(self.server, name, COMPONENT, HookBus(), list(identities), [],
                            parent=user_host.name, service=service)
                self._hosts[name] = host
                setup(host)
                self.server.hooks.fire_sync("host/added", host)
            made.append(host)
        return made


def component_names(domains: list[str], templates: dict[str, str]) -> list[str]:
    """Every component address the settings give (the certificate names them all)."""
    return [t.format(domain=d).lower() for d in domains for t in templates.values() if t]
