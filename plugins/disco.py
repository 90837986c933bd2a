"""XEP-0030: Service Discovery (with XEP-0128: Service Discovery Extensions).

The server answers disco#info and disco#items for each host (xmppd/hosts.py) and, on
behalf of its users, for their bare JIDs (§3.1, §8). A user domain's items list its
component hosts (`conference.<domain>`, ...); a component answers with its own identities
and features. Other modules extend the answers by handling these hooks — on the bus of
the host asked (a component's own bus for a component); each gets (stanza, query) and
appends to `query`:

  disco/info/host         features or XEP-0128 forms (<x xmlns='jabber:x:data' type='result'/>)
                          for the domain; return None so that every handler runs
  disco/items/host        <item jid=... [node=...] [name=...]/> elements for the domain
  disco/info/bare         the same for a user's bare JID (the server answers for the account)
  disco/items/bare        items of a user's bare JID (e.g. PEP nodes); only for existing accounts
  disco/{info,items}/{host,bare}/node
                          a query with a 'node' attribute: the handler that knows the node
                          fills `query` and returns True; when nobody does → item-not-found

Identities and features come from the host's (for user domains `server.identities` and
`server.features`), which modules fill with `Module.add_identity` and `Module.add_feature`. Entity
Capabilities (XEP-0115) are not handled here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result
from xmppd.priorities import DELIVER

if TYPE_CHECKING:
    from xmppd.hooks import HookBus
    from xmppd.hosts import Host
    from xmppd.modules import Identity, Module
    from xmppd.server import Server

# XEP-0030 §3.1: an account's primary identity (Service Discovery Identities registry).
ACCOUNT_IDENTITY = ("account", "registered")
# XEP-0030 §8 rule 1.2: subscription states that let the requester see the user's presence.
PRESENCE_VISIBLE = frozenset({"from", "both"})


def _query(namespace: str, request: Stanza) -> etree._Element:
    """An empty answer <query/>, mirroring the request's 'node' (§3.2)."""
    query = etree.Element(ns.q(namespace, "query"), nsmap={None: namespace})
    node = request.payload.get("node")
    if node is not None:
        query.set("node", node)
    return query


def _add_identities(query: etree._Element, identities: list["Identity"]) -> None:
    # §3.1: never two identities with the same category+type(+xml:lang).
    seen: set[tuple[str, str]] = set()
    for ident in identities:
        if (ident.category, ident.type) in seen:
            continue
        seen.add((ident.category, ident.type))
        el = etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category=ident.category,
                              type=ident.type)
        if ident.name:
            el.set("name", ident.name)


def _add_features(query: etree._Element, features: list[str]) -> None:
    # §3.1: each feature once; sorted so that answers are stable (and XEP-0115 friendly).
    for var in sorted(set(features)):
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=var)


class HostDisco:
    """disco#info and disco#items of one host's own address (a user domain or a component)."""

    def __init__(self, server: "Server", host: "Host") -> None:
        self.server = server
        self.host = host
        self.hooks = host.hooks

    async def info(self, stanza: Stanza) -> etree._Element:
        query = _query(ns.DISCO_INFO, stanza)
        if query.get("node") is not None:
            await _node(self.hooks, stanza, query, "disco/info/host/node")
            return iq_result(stanza, query)
        _add_identities(query, self.host.identities)
        _add_features(query, [*self.host.features, ns.DISCO_INFO, ns.DISCO_ITEMS])
        await self.hooks.fire("disco/info/host", stanza, query)  # XEP-0128 §2: forms go last
        return iq_result(stanza, query)

    async def items(self, stanza: Stanza) -> etree._Element:
        query = _query(ns.DISCO_ITEMS, stanza)
        if query.get("node") is not None:
            await _node(self.hooks, stanza, query, "disco/items/host/node")
            return iq_result(stanza, query)
        if not self.host.is_component:  # a domain's services (§4.1: items with a 'jid')
            domain = stanza.to.domain if stanza.to is not None else self.host.name
            for component in self.server.hosts.components(parent=domain):
                etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=component.name,
                                 **({"name": component.identities[0].name}
                                    if component.identities and component.identities[0].name else {}))
        await self.hooks.fire("disco/items/host", stanza, query)
        return iq_result(stanza, query)


class EntityDisco:
    """disco of an entity on a component (`room@conference.example.org`): what the modules of
    the component say on its bus (`disco/{info,items}/bare[/node]`); an entity nobody
    describes does not exist (service-unavailable, XEP-0030 §3.1 / §8)."""

    def __init__(self, host: "Host") -> None:
        self.hooks = host.hooks

    async def info(self, stanza: Stanza) -> etree._Element:
        query = _query(ns.DISCO_INFO, stanza)
        if query.get("node") is not None:
            await _node(self.hooks, stanza, query, "disco/info/bare/node")
            return iq_result(stanza, query)
        await self.hooks.fire("disco/info/bare", stanza, query)
        if not len(query):
            raise StanzaError("service-unavailable")
        return iq_result(stanza, query)

    async def items(self, stanza: Stanza) -> etree._Element:
        query = _query(ns.DISCO_ITEMS, stanza)
        if query.get("node") is not None:
            await _node(self.hooks, stanza, query, "disco/items/bare/node")
        else:
            await self.hooks.fire("disco/items/bare", stanza, query)
        return iq_result(stanza, query)


class Disco:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.hooks = server.hooks
        user_host = server.hosts.users()[0] if server.hosts.users() else None
        self._user_disco = HostDisco(server, user_host) if user_host is not None else None

    # -- the user domains (one bus, one set of features) --------------------------------
    async def host_info(self, stanza: Stanza) -> etree._Element:
        return await self._for(stanza).info(stanza)

    async def host_items(self, stanza: Stanza) -> etree._Element:
        return await self._for(stanza).items(stanza)

    def _for(self, stanza: Stanza) -> HostDisco:
        domain = stanza.to.domain if stanza.to is not None else (stanza.from_.domain if stanza.from_ else "")
        host = self.server.hosts.get(domain)
        return HostDisco(self.server, host) if host is not None else self._user_disco

    # -- a user's bare JID, answered by the server (§3.1, §8) ------------------------------
    async def bare_info(self, stanza: Stanza) -> etree._Element:
        # §8 rule 1: service-unavailable when the account does not exist or the requester
        # may not see its presence, whether or not a node was asked for.
        if not await self._may_see(stanza.from_, stanza.to) or not await self._exists(stanza.to):
            raise StanzaError("service-unavailable")
        query = _query(ns.DISCO_INFO, stanza)
        if query.get("node") is not None:
            await self._node(stanza, query, "disco/info/bare/node")
            return iq_result(stanza, query)
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"),
                         category=ACCOUNT_IDENTITY[0], type=ACCOUNT_IDENTITY[1])
        _add_features(query, [ns.DISCO_INFO, ns.DISCO_ITEMS])
        await self.hooks.fire("disco/info/bare", stanza, query)
        return iq_result(stanza, query)

    async def bare_items(self, stanza: Stanza) -> etree._Element:
        # §8 rule 2: an empty result when the account does not exist (no existence leak).
        query = _query(ns.DISCO_ITEMS, stanza)
        node = query.get("node")
        event = "disco/items/bare/node" if node is not None else "disco/items/bare"
        if not self.hooks.has(event) or not await self._exists(stanza.to):
            return iq_result(stanza, query)
        if node is not None:
            await self._node(stanza, query, event)
        else:
            await self.hooks.fire(event, stanza, query)
        return iq_result(stanza, query)

    # -- helpers -----------------------------------------------------------------------
    async def _node(self, stanza: Stanza, query: etree._Element, event: str) -> None:
        await _node(self.hooks, stanza, query, event)

    async def _exists(self, bare: JID) -> bool:
        return bool(await self.hooks.fire("account/exists", bare.local, bare.domain))

    async def _may_see(self, requester: JID | None, owner: JID) -> bool:
        """§8: the account itself, or a contact with a 'from' or 'both' subscription."""
        if requester is None:
            return False
        if requester.bare == owner:
            return True
        state = await self.hooks.fire("roster/subscription", owner, requester.bare)
        return state in PRESENCE_VISIBLE


async def _node(hooks: "HookBus", stanza: Stanza, query: etree._Element, event: str) -> None:
    """§3.2 / §4.2: a node some module knows, else item-not-found."""
    if not await hooks.fire(event, stanza, query):
        raise StanzaError("item-not-found", "no such node")


def serve_component(host: "Host") -> None:
    """disco#info and disco#items of a component host's own address and of its entities."""
    disco, entity = HostDisco(host.server, host), EntityDisco(host)
    host.hooks.add(f"iq-get/host/{ns.DISCO_INFO}:query", disco.info)
    host.hooks.add(f"iq-get/host/{ns.DISCO_ITEMS}:query", disco.items)
    # Lowest priority: a component that describes its entities itself (MUC rooms) goes first.
    host.hooks.add(f"iq-get/bare/{ns.DISCO_INFO}:query", entity.info, DELIVER)
    host.hooks.add(f"iq-get/bare/{ns.DISCO_ITEMS}:query", entity.items, DELIVER)


def load(server: "Server") -> "Module":
    module = server.module(
        "disco", xep="XEP-0030", title="Service Discovery", version="2.5.0", status="complete",
        notes="domains and accounts' bare JIDs; nodes and XEP-0128 forms through hooks")
    server.module("disco-extensions", xep="XEP-0128", title="Service Discovery Extensions",
                  version="1.0.1", status="complete", notes="the disco/info/host hook")
    disco = Disco(server)
    module.iq("get", ns.DISCO_INFO, "query", disco.host_info, scope="host")
    module.iq("get", ns.DISCO_ITEMS, "query", disco.host_items, scope="host")
    module.iq("get", ns.DISCO_INFO, "query", disco.bare_info, scope="bare")
    module.iq("get", ns.DISCO_ITEMS, "query", disco.bare_items, scope="bare")
    module.add_feature(ns.DISCO_INFO)
    module.add_feature(ns.DISCO_ITEMS)
    for host in server.hosts.components():
        serve_component(host)
    module.hook("host/added", serve_component)
    return module
