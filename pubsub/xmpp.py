"""XEP-0060: Publish-Subscribe, on the pubsub component (`XMPP_PUBSUB_HOST`) and, as
XEP-0163 Personal Eventing Protocol, on every account's bare JID.

Component `pubsub.<domain>` (its own bus):
  iq-{get,set}/host/{pubsub,pubsub#owner}:pubsub   the XEP-0060 use cases
  message/host                                     §8.6 authorization forms from owners
  disco/items/host, disco/{info,items}/host/node   §5: nodes, node meta-data, items
User hosts (the server's bus), for PEP:
  iq-{get,set}/{self,bare}/{pubsub,pubsub#owner}:pubsub
  disco/info/bare, disco/items/bare, disco/info/bare/node
  presence/initial, caps/updated (session)         the last item of each +notify node
  pep/read-items, pep/write                         the seam for mirrors (pubsub.pep.Mirror)
  presence/initial (session)                       the service's on_sub_and_presence last items
  message/bare (INTERCEPT)                         §8.6 the owner's answer to its own bare JID
Both use one engine (`pubsub.engine`) and one store (`pubsub.actions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from pubsub import actions, operations
from pubsub.handlers import Requests
from pubsub.notify import Notifier
from pubsub.owner import Owner
from pubsub.pep import LAST_SENT, SERVICE_FEATURES, SERVICE_LAST, Mirror, Pep, describe_node
from xmppcore import ns
from xmppcore.stanza import Stanza
from xmppd.modules import Identity
from xmppd.priorities import INTERCEPT
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.hosts import Host
    from xmppd.modules import Module
    from xmppd.server import Server

XEP0060_VERSION = "1.26.0"
XEP0163_VERSION = "1.2.2"


def _register(module: "Module", requests: Requests, owner: Owner, scopes: tuple[str, ...]) -> None:
    for scope in scopes:
        module.iq("set", ns.PUBSUB, "pubsub", requests.handle_set, scope=scope)
        module.iq("get", ns.PUBSUB, "pubsub", requests.handle_get, scope=scope)
        module.iq("set", ns.PUBSUB_OWNER, "pubsub", owner.handle_set, scope=scope)
        module.iq("get", ns.PUBSUB_OWNER, "pubsub", owner.handle_get, scope=scope)


class ServiceDisco:
    """XEP-0060 §5.2-§5.5 on the component: nodes, a node's meta-data, a node's items."""

    def __init__(self, host: "Host") -> None:
        self.host = host

    async def nodes(self, stanza: Stanza, query: etree._Element) -> None:
        for name, title in await db(actions.list_nodes, self.host.name):
            item = etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=self.host.name, node=name)
            if title:
                item.set("name", title)

    async def node_info(self, stanza: Stanza, query: etree._Element) -> bool | None:
        node = await db(actions.load_node, self.host.name, query.get("node"))
        if node is None:
            return None
        describe_node(query, node)
        return True

    async def node_items(self, stanza: Stanza, query: etree._Element) -> bool | None:
        name = query.get("node")
        node = await db(actions.load_node, self.host.name, name)
        if node is None:
            return None
        for item_id, _publisher, _payload in await db(actions.get_items, self.host.name, name):
            etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=self.host.name, name=item_id)
        return True


def load(server: "Server") -> "Module":
    from django.conf import settings

    max_nodes = int(getattr(settings, "XMPP_PUBSUB_MAX_NODES", 1000))
    notifier = Notifier(server)
    operations.register(server, notifier)

    def setup(host: "Host") -> None:
        module = host.module("pubsub", xep="XEP-0060", title="Publish-Subscribe", version=XEP0060_VERSION,
                             status="partial", notes="leaf nodes; collections refused")
        requests = Requests(server, notifier, pep=False, max_nodes=max_nodes)
        owner = Owner(requests)
        requests.authorize = owner.ask_owners
        _register(module, requests, owner, ("host",))
        for feature in SERVICE_FEATURES:
            module.add_feature(feature)
        module.hook("message/host", owner.authorization)
        disco = ServiceDisco(host)
        module.hook("disco/items/host", disco.nodes)
        module.hook("disco/info/host/node", disco.node_info)
        module.hook("disco/items/host/node", disco.node_items)

    server.hosts.add_component("pubsub", [Identity("pubsub", "service", "Publish-Subscribe")], setup)
    server.module("shim", xep="XEP-0131", title="Stanza Headers and Internet Metadata", version="1.2",
                  status="partial", notes="SubID headers of pubsub notifications")
    server.module("pep-private", xep="XEP-0223", title="Persistent Storage of Private Data via PubSub",
                  version="1.1", status="complete", notes="whitelist access model, publish-options")
    module = server.module("pep", xep="XEP-0163", title="Personal Eventing Protocol", version=XEP0163_VERSION,
                           status="complete", notes="+notify from XEP-0115 caps (the caps module)")
    requests = Requests(server, notifier, pep=True, max_nodes=max_nodes)
    owner = Owner(requests)
    requests.authorize = owner.ask_owners
    _register(module, requests, owner, ("self", "bare"))
    module.hook("message/bare", owner.pep_authorization, INTERCEPT)
    pep = Pep(server)
    module.hook("disco/info/bare", pep.info)
    module.hook("disco/items/bare", pep.items)
    module.hook("disco/info/bare/node", pep.node_info)
    module.hook("presence/initial", pep.send_last)
    module.hook("caps/updated", pep.send_last)
    module.hook("presence/initial", pep.service_last)
    module.hook("auth/success", pep.prefetch)
    module.hook("session/bound", pep.bound)
    module.session_state(LAST_SENT)
    module.session_state(SERVICE_LAST)
    mirror = Mirror(notifier)
    module.hook("pep/read-items", mirror.read)
    module.hook("pep/write", mirror.write)
    return module
