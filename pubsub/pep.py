"""XEP-0163: Personal Eventing Protocol — every account is a virtual pubsub service.

The account's bare JID answers disco#info with the `pubsub/pep` identity and the PEP
features (§1, §6), lists its nodes in disco#items, takes the XEP-0060 requests of its owner
(auto-create on publish, §4.2; publish-options, XEP-0223 whitelist for private data) and of
its contacts (items, subscribe). Notifications go from the bare JID to the owner's and the
contacts' resources that asked with `node+notify` (§4.3.3, XEP-0115 caps kept by the caps
module in `session.data["caps.features"]`); a resource that comes online, or whose caps
become known (`caps/updated`), gets the last item of each node it wants (§4.3.4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from pubsub import actions, wire
from pubsub.engine import access
from pubsub.engine import config as cfg
from pubsub.engine.node import NodeView
from pubsub.engine.node import recipients
from pubsub.notify import CAPS_FEATURES, last_item_message
from xmppcore import ns
from xmppcore.forms import Field, Form
from xmppcore.stanza import Stanza
from xmppd.storage import PREFETCH, Prefetch, db

if TYPE_CHECKING:
    from xmppd.server import Server

SERVICE_LAST = "pubsub.service-last"  # session state until initial presence: prefetched last items
LAST_SENT = "pubsub.last-sent"  # session state: (service, node) whose last item it got
ROSTER_ITEMS = "rosters.items"
_PUBLISHERS = frozenset({"to", "both"})
_READABLE = frozenset({cfg.OPEN, cfg.PRESENCE, cfg.ROSTER})


def may_see(node: NodeView, bare: str) -> bool:
    """A contact with a presence subscription sees presence/roster/open nodes; whitelist and
    authorize nodes only their owner and members (XEP-0223 §3)."""
    if bare == node.service:
        return True
    if node.config.get(cfg.ACCESS_MODEL) in _READABLE:
        return True
    return node.affiliation(bare) in (access.OWNER, access.PUBLISHER, access.MEMBER)


class Pep:
    def __init__(self, server: "Server") -> None:
        self.server = server

    # -- disco (XEP-0030 on the bare JID) ----------------------------------------------------
    def info(self, stanza: Stanza, query: etree._Element) -> None:
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="pubsub", type="pep")
        for feature in PEP_FEATURES:
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=feature)

    async def items(self, stanza: Stanza, query: etree._Element) -> None:
        owner = str(stanza.to.bare)
        asker = str(stanza.from_.bare) if stanza.from_ is not None else ""
        for name, _title in await db(actions.list_nodes, owner):
            if asker == owner or await self._readable(owner, name, asker):
                etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=owner, node=name)

    async def _readable(self, owner: str, name: str, asker: str) -> bool:
        node = await db(actions.load_node, owner, name)
        return node is not None and may_see(node, asker)

    async def node_info(self, stanza: Stanza, query: etree._Element) -> bool | None:
        node = await db(actions.load_node, str(stanza.to.bare), query.get("node"))
        asker = str(stanza.from_.bare) if stanza.from_ is not None else ""
        if node is None or not may_see(node, asker):
            return None
        describe_node(query, node)
        return True

    # -- the last item to a resource that wants it (§4.3.4) ---------------------------------
    async def send_last(self, session: Any) -> None:
        features = session.data.get(CAPS_FEATURES) or frozenset()
        wanted = {f[:-len("+notify")] for f in features if f.endswith("+notify")}
        if not wanted or not session.is_available or session.is_closed:
            return None
        bare = str(session.bare)
        roster = session.data.get(ROSTER_ITEMS) or {}
        services = [bare, *(str(j) for j, item in list(roster.items())
                            if getattr(item, "subscription", "none") in _PUBLISHERS)]
        sent: set[tuple[str, str]] = session.data.setdefault(LAST_SENT, set())
        for node, item in await db(actions.last_items_for, services, sorted(wanted)):
            key = (node.service, node.name)
            if key in sent or not may_see(node, bare) or node.config.get(cfg.SEND_LAST_ITEM) == "never":
                continue
            sent.add(key)
            session.send(last_item_message(node, str(session.jid), item))
        return None

    def _service(self, domain: str) -> str | None:
        hosts = self.server.hosts.components(parent=domain, service="pubsub")
        return hosts[0].name if hosts else None

    def prefetch(self, username: str, domain: str, _driver: Any, prefetch: Prefetch) -> None:
        """auth/success: the service's on_sub_and_presence items are read with the login's other
        reads (one trip), not at initial presence: a login costs no extra database trip."""
        service = self._service(domain)
        if service is not None:
            prefetch.add(SERVICE_LAST, actions.last_items_on_presence, service, f"{username}@{domain}")

    def bound(self, session: Any) -> None:
        """session/bound: keep the prefetched items until the initial presence."""
        prefetch: Prefetch | None = session.data.get(PREFETCH)
        if prefetch is not None:
            rows = prefetch.take(SERVICE_LAST)
            if rows is not None:
                session.data[SERVICE_LAST] = rows

    async def service_last(self, session: Any) -> None:
        """XEP-0060 §4.3, send_last_published_item = on_sub_and_presence on the pubsub service:
        a local subscriber coming online (its initial presence) gets the last item of each node
        it (its bare JID or this full JID) is subscribed to."""
        rows = session.data.pop(SERVICE_LAST, None)
        service = self._service(session.jid.domain)
        if service is None or not session.is_available or session.is_closed:
            return None
        full, bare = str(session.jid), str(session.bare)
        if rows is None:  # not prefetched (or the read failed): read it now
            rows = await db(actions.last_items_on_presence, service, bare)
        for node, item, subscribed in rows:
            targets = recipients(node)
            if (full in subscribed or bare in subscribed) and (full in targets or bare in targets):
                session.send(last_item_message(node, full, item))
        return None


class Mirror:
    """The seam for modules that keep other data in step with PEP nodes (privatexml: the
    bookmarks of XEP-0402 §5.3), through the hook bus since apps do not import each other:
      pep/read-items (service, node)                      -> [(item id, payload XML)]
      pep/write (service, node, config, publish, retract) -> True, the writes notified as
          the owner's own publish/retract would be (XEP-0163 §4.3).
    The IQ handlers fire `pep/item-changed` (service, node) after a client's publish or
    retract; these writes do not, so a mirror does not trigger itself."""

    def __init__(self, notifier: Any) -> None:
        self.notifier = notifier

    @staticmethod
    async def read(service: str, name: str) -> list[tuple[str, str]]:
        return [(item_id, payload) for item_id, _publisher, payload in await db(actions.get_items, service, name)]

    async def write(self, service: str, name: str, config: dict[str, Any],
                    publish: list[tuple[str, str]], retract: list[str]) -> bool:
        node, retracted = await db(actions.do_write_items, service, name, config, publish, retract)
        if node is None:
            return True
        for item_id, payload in publish:
            await self.notifier.published(node, item_id, payload, service)
        if retracted and node.notify_on("retract"):
            await self.notifier.retracted(node, retracted)
        return True


def describe_node(query: etree._Element, node: NodeView) -> None:
    """XEP-0060 §5.3: identity pubsub/leaf, the pubsub feature and the meta-data form (§5.4)."""
    etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="pubsub", type="leaf")
    etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=ns.PUBSUB)
    form = Form(type="result")
    form.add(Field("FORM_TYPE", type="hidden", values=[ns.PUBSUB_META_DATA]))
    for var in (cfg.TYPE, cfg.TITLE, cfg.DESCRIPTION, cfg.ACCESS_MODEL, cfg.PUBLISH_MODEL):
        value = node.config.get(var)
        form.add(Field(var, type="text-single", values=[str(value)] if value else []))
    form.add(Field("pubsub#owner", type="jid-multi", values=sorted(node.owners)))
    query.append(wire.form_element(form))


def _features(*names: str) -> tuple[str, ...]:
    return tuple(f"{ns.PUBSUB}#{name}" for name in names)


COMMON = _features(
    "access-open", "access-presence", "access-roster", "access-whitelist", "access-authorize",
    "config-node", "config-node-max", "create-and-configure", "create-nodes", "delete-items",
    "delete-nodes", "item-ids", "last-published", "manage-subscriptions", "member-affiliation",
    "modify-affiliations", "multi-subscribe", "outcast-affiliation", "persistent-items",
    "publish", "publish-only-affiliation", "publish-options", "publisher-affiliation",
    "purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default",
    "retrieve-default-sub", "retrieve-items", "retrieve-subscriptions", "subscribe",
    "subscription-notifications", "subscription-options", "rsm", "shim")
SERVICE_FEATURES = (ns.PUBSUB, *COMMON, *_features("instant-nodes"))
# XEP-0163 §6: auto-create, auto-subscribe and filtered-notifications on top.
PEP_FEATURES = (ns.PUBSUB, *COMMON, *_features("auto-create", "auto-subscribe", "filtered-notifications"))
