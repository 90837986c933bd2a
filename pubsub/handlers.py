"""XEP-0060 §6-§7: the entity use cases (<pubsub xmlns='http://jabber.org/protocol/pubsub'/>),
for the pubsub service and for PEP (XEP-0163) alike.

`service` is the JID that owns the nodes: the component's address or the account's bare JID.
Each request loads the node once (`pubsub.actions.load_node`), asks the engine whether it may
go on, writes through `pubsub.actions`, answers, then notifies (`pubsub.notify`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from pubsub import actions, wire
from pubsub.engine import access
from pubsub.engine import config as cfg
from pubsub.engine.errors import PubsubError, node_missing
from pubsub.engine.node import PENDING, SUBSCRIBED, NodeView
from pubsub.notify import Notifier, last_item_message
from pubsub.relations import relation
from xmppcore import ns, rsm
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, iq_result
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

MAX_PAGE = 100  # XEP-0059: the largest page of items one answer carries
Answer = etree._Element | bool  # a reply, or True when the handler answered itself
_ACTIONS_SET = ("create", "publish", "retract", "subscribe", "unsubscribe", "options")
_ACTIONS_GET = ("items", "subscriptions", "affiliations", "options", "default")


def requester(stanza: Stanza) -> JID:
    if stanza.from_ is None:
        raise PubsubError("bad-request")
    return stanza.from_


class Requests:
    """The pubsub namespace, for one kind of service (component or PEP)."""

    def __init__(self, server: "Server", notifier: Notifier, *, pep: bool, max_nodes: int = 0) -> None:
        self.server = server
        self.notifier = notifier
        self.pep = pep
        self.authorize: Any = None  # set by pubsub.xmpp: sends the §8.6 form to the owners
        self.max_nodes = max_nodes  # per owner (XMPP_PUBSUB_MAX_NODES); 0: no limit

    def service_of(self, stanza: Stanza) -> str:
        if self.pep:
            return str(stanza.to.bare if stanza.to is not None else requester(stanza).bare)
        return stanza.to.domain if stanza.to is not None else ""

    @staticmethod
    def verb(stanza: Stanza, names: tuple[str, ...]) -> etree._Element:
        """§7: the one action child of <pubsub/> (create+configure, subscribe+options go together)."""
        children = [c for c in stanza.payload if isinstance(c.tag, str)]
        for name in names:
            for c in children:
                if c.tag == ns.q(ns.PUBSUB, name):
                    return c
        raise PubsubError("bad-request", text="no pubsub action")

    async def load(self, service: str, name: str) -> NodeView:
        node = await db(actions.load_node, service, name)
        if node is None:
            raise node_missing()
        return node

    # -- entry points (IQ handlers) ----------------------------------------------------------
    async def handle_set(self, stanza: Stanza) -> Answer:
        el = self.verb(stanza, _ACTIONS_SET)
        name = etree.QName(el).localname
        method = {"create": self.create, "publish": self.publish, "retract": self.retract,
                  "subscribe": self.subscribe, "unsubscribe": self.unsubscribe,
                  "options": self.set_options}[name]
        return await method(stanza, el)

    async def handle_get(self, stanza: Stanza) -> etree._Element:
        el = self.verb(stanza, _ACTIONS_GET)
        name = etree.QName(el).localname
        method = {"items": self.items, "subscriptions": self.subscriptions,
                  "affiliations": self.affiliations, "options": self.get_options,
                  "default": self.default_options}[name]
        return await method(stanza, el)

    # -- §8.1 create -------------------------------------------------------------------------
    async def create(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        service = self.service_of(stanza)
        who = requester(stanza)
        if self.pep and who.bare != JID.parse(service):
            raise PubsubError("forbidden", text="PEP nodes are created by their account")
        name = wire.node_of(el, required=False)
        instant = name is None
        name = name or actions.new_item_id()  # §8.1.2: an instant node gets a unique NodeID
        values = wire.submitted(wire.child(stanza.payload, "configure"), ns.PUBSUB_NODE_CONFIG)
        config = cfg.apply_submission(cfg.default_config(pep=self.pep), values or {})
        node = await self.create_node(service, name, config, who)
        if node is None:
            raise PubsubError("conflict", text="the node exists")  # §8.1.3.x
        if not instant:
            return iq_result(stanza)
        answer = wire.pubsub()
        wire.sub(answer, "create", node=name)
        return iq_result(stanza, answer)

    # -- §7.1 publish ------------------------------------------------------------------------
    async def publish(self, stanza: Stanza, el: etree._Element) -> Answer:
        service = self.service_of(stanza)
        who = requester(stanza)
        name = wire.node_of(el)
        items = el.findall(ns.q(ns.PUBSUB, "item"))
        if len(items) > 1:
            raise PubsubError("bad-request", "invalid-payload", text="one item per publish")  # §7.1.3.6
        item = items[0] if items else None
        payload = [c for c in item if isinstance(c.tag, str)] if item is not None else []
        if len(payload) > 1:
            raise PubsubError("bad-request", "invalid-payload")  # §7.1.3.6
        options = wire.submitted(wire.child(stanza.payload, "publish-options"), ns.PUBSUB_PUBLISH_OPTIONS)
        node = await db(actions.load_node, service, name)
        if node is None:
            node = await self.auto_create(service, name, who, options)
        if not payload and node.config.get(cfg.PERSIST) and node.config.get(cfg.DELIVER_PAYLOADS):
            raise PubsubError("bad-request", "item-required")  # §7.1.3.4 / §7.1.3.5
        access.check_publish(node.config, await relation(self.server, node, who))
        if options:
            cfg.check_preconditions(node.config, options)
        item_id = (item.get("id") if item is not None else None) or actions.new_item_id()
        xml = wire.serialize(payload[0]) if payload else ""
        # Items beyond max_items go silently (§7.1.4: no retract notifications for them).
        await db(actions.do_publish, service, name, item_id, xml, str(who))
        answer = wire.pubsub()
        wire.sub(wire.sub(answer, "publish", node=name), "item", id=item_id)  # §7.1.2
        self.server.router.reply(stanza, iq_result(stanza, answer))
        await self.notifier.published(node, item_id, xml, str(who.bare))
        await self.changed(node)
        return True

    async def changed(self, node: NodeView) -> None:
        """The seam for modules that mirror PEP data elsewhere (privatexml: bookmarks,
        XEP-0402 §5.3): `pep/item-changed` (service, node name) after a PEP publish/retract."""
        if self.pep:
            await self.server.hooks.fire_all("pep/item-changed", node.service, node.name)

    async def auto_create(self, service: str, name: str, who: JID,
                          options: dict[str, list[str]] | None) -> NodeView:
        """XEP-0163 §4.2 / XEP-0060 §7.1.4: a PEP node is made on first publish by its owner,
        configured by the publish-options (§7.1.5); the service has no auto-create."""
        if not self.pep:
            raise node_missing()
        if who.bare != JID.parse(service):
            raise PubsubError("forbidden", text="only the account publishes to its PEP nodes")
        config = cfg.apply_submission(cfg.default_config(pep=True), options or {})
        node = await self.create_node(service, name, config, who)
        return node if node is not None else await self.load(service, name)

    async def create_node(self, service: str, name: str, config: dict[str, Any], who: JID) -> NodeView | None:
        try:
            return await db(actions.do_create_node, service, name, config, str(who.bare), str(who),
                            self.max_nodes)
        except actions.TooManyNodes:
            # Local policy (docs/security.md): a bounded number of nodes per owner.
            # not-allowed rather than RFC 6120 policy-violation: RFC 3920 clients (slixmpp) choke on it.
            raise PubsubError("not-allowed", text=f"at most {self.max_nodes} nodes per owner")

    # -- §7.2 retract ------------------------------------------------------------------------
    async def retract(self, stanza: Stanza, el: etree._Element) -> Answer:
        service = self.service_of(stanza)
        who = requester(stanza)
        name = wire.node_of(el)
        ids = [i.get("id") for i in el.findall(ns.q(ns.PUBSUB, "item"))]
        if not ids or not all(ids):
            raise PubsubError("bad-request", "item-required")  # §7.2.3.3
        node = await self.load(service, name)
        rel = await relation(self.server, node, who)
        for item_id in ids:
            publisher = await db(actions.item_publisher, service, name, item_id)
            if publisher is None:
                raise PubsubError("item-not-found")  # §7.2.3.5
            access.check_retract(rel, publisher, str(who.bare))
        for item_id in ids:
            await db(actions.do_retract, service, name, item_id)
        self.server.router.reply(stanza, iq_result(stanza))
        # §7.2.2.1: notify when pubsub#notify_retract, or when the publisher asks with notify.
        if el.get("notify") in ("1", "true") or node.notify_on("retract"):
            await self.notifier.retracted(node, ids)
        await self.changed(node)
        return True

    # -- §6.1 subscribe / §6.2 unsubscribe ---------------------------------------------------
    def subscriber(self, el: etree._Element, who: JID) -> JID:
        """§6.1.3.1: the 'jid' must be the requester's (bare or full), else invalid-jid."""
        try:
            jid = JID.parse(el.get("jid") or "")
        except InvalidJID:
            raise PubsubError("bad-request", "invalid-jid")
        if jid.bare != who.bare:
            raise PubsubError("bad-request", "invalid-jid")
        return jid

    async def subscribe(self, stanza: Stanza, el: etree._Element) -> Answer:
        service = self.service_of(stanza)
        who = requester(stanza)
        name = wire.node_of(el)
        jid = self.subscriber(el, who)
        options = wire.options_from(wire.submitted(wire.child(stanza.payload, "options"),
                                                   ns.PUBSUB_SUBSCRIBE_OPTIONS))
        node = await self.load(service, name)
        rel = await relation(self.server, node, who)
        access.check_access(node.config, rel, subscribing=True)
        pending = node.config.get(cfg.ACCESS_MODEL) == cfg.AUTHORIZE and rel.affiliation not in (
            access.OWNER, access.PUBLISHER, access.MEMBER)
        existing = [s for s in node.subscriptions_of(str(jid)) if s.state == PENDING]
        if pending and existing:
            raise PubsubError("not-authorized", "pending-subscription")  # §6.1.3.7
        sub = await db(actions.do_subscribe, service, name, str(jid), PENDING if pending else SUBSCRIBED, options)
        if sub is None:
            raise node_missing()
        answer = wire.pubsub()
        wire.subscription_element(answer, name, str(jid), sub.state, sub.subid)
        self.server.router.reply(stanza, iq_result(stanza, answer))
        if pending and self.authorize is not None:
            await self.authorize(node, sub)  # §6.1.3.x / §8.6: ask the owners
        elif not pending:
            await self.after_subscribe(node, str(jid))
        return True

    async def after_subscribe(self, node: NodeView, jid: str) -> None:
        """§6.1.7: the last item on subscription (send_last_published_item); §8.8.4 notify_sub."""
        if node.config.get(cfg.SEND_LAST_ITEM) in ("on_sub", "on_sub_and_presence"):
            for item in await db(actions.get_items, node.service, node.name, None, 1):
                await self.notifier.deliver(last_item_message(node, jid, item), jid)
        if node.notify_on("sub"):
            for owner in node.owners:
                await self.notifier.to_one(node.service, owner, lambda e: wire.subscription_element(
                    e, node.name, jid, SUBSCRIBED))

    async def unsubscribe(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        service = self.service_of(stanza)
        who = requester(stanza)
        name = wire.node_of(el)
        jid = self.subscriber(el, who)
        subid = el.get("subid")
        node = await self.load(service, name)
        mine = node.subscriptions_of(str(jid))
        if not mine:
            raise PubsubError("unexpected-request", "not-subscribed")  # §6.2.3.2
        if subid is None and len(mine) > 1:
            raise PubsubError("bad-request", "subid-required")  # §6.2.3.1
        if subid is not None and subid not in {s.subid for s in mine}:
            raise PubsubError("not-acceptable", "invalid-subid")  # §6.2.3.5
        await db(actions.do_unsubscribe, service, name, str(jid), subid)
        return iq_result(stanza)

    def one_subscription(self, node: NodeView, el: etree._Element, who: JID) -> Any:
        jid = self.subscriber(el, who)
        mine = node.subscriptions_of(str(jid))
        subid = el.get("subid")
        if not mine:
            raise PubsubError("unexpected-request", "not-subscribed")  # §6.3.3.4
        if subid is None and len(mine) > 1:
            raise PubsubError("bad-request", "subid-required")  # §6.3.3.2
        chosen = [s for s in mine if subid is None or s.subid == subid]
        if not chosen:
            raise PubsubError("not-acceptable", "invalid-subid")  # §6.3.3.5
        return chosen[0]

    # -- §6.3 subscription options -------------------------------------------------------------
    async def get_options(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        node = await self.load(self.service_of(stanza), wire.node_of(el))
        sub = self.one_subscription(node, el, requester(stanza))
        answer = wire.pubsub()
        options = wire.sub(answer, "options", node=node.name, jid=sub.jid, subid=sub.subid)
        options.append(wire.form_element(wire.options_form(sub.options)))
        return iq_result(stanza, answer)

    async def set_options(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        node = await self.load(self.service_of(stanza), wire.node_of(el))
        sub = self.one_subscription(node, el, requester(stanza))
        values = wire.options_from(wire.submitted(el, ns.PUBSUB_SUBSCRIBE_OPTIONS))
        await db(actions.do_set_subscription_options, node.service, node.name, sub.subid, values)
        return iq_result(stanza)

    async def default_options(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        """§6.4: the default subscription options."""
        answer = wire.pubsub()
        default = wire.sub(answer, "default", node=el.get("node"))
        default.append(wire.form_element(wire.options_form({})))
        return iq_result(stanza, answer)

    # -- §5.6 / §5.7 the requester's subscriptions and affiliations --------------------------
    async def subscriptions(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        service, who = self.service_of(stanza), requester(stanza)
        rows = await db(actions.subscriptions_of, service, str(who.bare))
        only = el.get("node")
        answer = wire.pubsub()
        subs = wire.sub(answer, "subscriptions", node=only)
        for name, jid, subid, state in rows:
            if only is None or name == only:
                wire.subscription_element(subs, name, jid, state, subid)
        return iq_result(stanza, answer)

    async def affiliations(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        service, who = self.service_of(stanza), requester(stanza)
        rows = await db(actions.affiliations_of, service, str(who.bare))
        only = el.get("node")
        answer = wire.pubsub()
        affs = wire.sub(answer, "affiliations", node=only)
        for name, affiliation in rows:
            if only is None or name == only:
                wire.sub(affs, "affiliation", node=name, affiliation=affiliation)
        return iq_result(stanza, answer)

    # -- §6.5 items ----------------------------------------------------------------------------
    async def items(self, stanza: Stanza, el: etree._Element) -> etree._Element:
        service, who = self.service_of(stanza), requester(stanza)
        name = wire.node_of(el)
        node = await self.load(service, name)
        access.check_retrieve(node.config, await relation(self.server, node, who))
        if not node.config.get(cfg.PERSIST, True):
            raise PubsubError("feature-not-implemented", "unsupported", feature="persistent-items")
        ids = [i.get("id") for i in el.findall(ns.q(ns.PUBSUB, "item")) if i.get("id")]
        request = self.rsm_request(stanza.payload)
        answer = wire.pubsub()
        items_el = wire.sub(answer, "items", node=name)
        page = None
        if ids:
            rows = await db(actions.get_items, service, name, ids)
        elif el.get("max_items") is not None:
            rows = await db(actions.get_items, service, name, None, self.max_items(el))
        else:  # §6.5.2 all items; §6.5.4 with XEP-0059 when there are many or when asked
            page = await db(_page, service, name, request)
            rows = list(page.items)
        for item_id, publisher, payload in rows:
            wire.item_element(items_el, item_id, payload, publisher)
        if page is not None and (request is not None or page.count > len(page.items)):
            page.to_element(answer)
        return iq_result(stanza, answer)

    @staticmethod
    def max_items(el: etree._Element) -> int:
        value = el.get("max_items", "")
        if not value.isdigit() or int(value) < 1:
            raise PubsubError("bad-request", text="max_items is a positive integer")
        return int(value)

    @staticmethod
    def rsm_request(payload: etree._Element) -> rsm.ResultSet | None:
        found = payload.find(ns.q(ns.RSM, "set"))
        return rsm.ResultSet.from_element(found) if found is not None else None


def _page(service: str, name: str, request: rsm.ResultSet | None) -> rsm.Page:
    """One page of a node's items (runs in the DB thread: the Source queries)."""
    return rsm.page(actions.ItemSource(service, name), request, max_page=MAX_PAGE)
