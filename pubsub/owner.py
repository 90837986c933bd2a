"""XEP-0060 §8: the owner use cases (<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>):
configure, default configuration, delete (with redirect), purge, manage subscriptions and
affiliations; and §8.6 the authorization of pending subscriptions (a form to the owners)."""

from __future__ import annotations

from lxml import etree

from pubsub import actions, wire
from pubsub.engine import access
from pubsub.engine import config as cfg
from pubsub.engine.errors import PubsubError
from pubsub.engine.node import PENDING, SUBSCRIBED, SUBSCRIPTION_STATES, NodeView, Sub
from pubsub.handlers import Answer, Requests, requester
from pubsub.relations import relation
from xmppcore import ns
from xmppcore.forms import Field, Form, find_form
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, iq_result
from xmppd.storage import db

_SET = ("configure", "delete", "purge", "subscriptions", "affiliations")
_GET = ("configure", "default", "subscriptions", "affiliations")
_ALLOW = "pubsub#allow"


def _owner_el(stanza: Stanza, names: tuple[str, ...]) -> etree._Element:
    for c in stanza.payload:
        if isinstance(c.tag, str) and etree.QName(c).namespace == ns.PUBSUB_OWNER \
                and etree.QName(c).localname in names:
            return c
    raise PubsubError("bad-request", text="no pubsub#owner action")


def _jid(value: str | None) -> str:
    try:
        return str(JID.parse(value or ""))
    except InvalidJID:
        raise PubsubError("bad-request", "invalid-jid")


class Owner:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.server = requests.server
        self.notifier = requests.notifier

    async def owned(self, stanza: Stanza, el: etree._Element) -> NodeView:
        node = await self.requests.load(self.requests.service_of(stanza), wire.node_of(el))
        access.check_owner(await relation(self.server, node, requester(stanza)))
        return node

    async def handle_get(self, stanza: Stanza) -> Answer:
        el = _owner_el(stanza, _GET)
        verb = etree.QName(el).localname
        if verb == "default":  # §8.3: the default node configuration
            answer = wire.pubsub(ns.PUBSUB_OWNER)
            wire.sub(answer, "default").append(wire.form_element(cfg.config_form(
                cfg.default_config(pep=self.requests.pep))))
            return iq_result(stanza, answer)
        node = await self.owned(stanza, el)
        answer = wire.pubsub(ns.PUBSUB_OWNER)
        out = wire.sub(answer, verb, node=node.name)
        if verb == "configure":  # §8.2.1
            out.append(wire.form_element(cfg.config_form(node.config)))
        elif verb == "subscriptions":  # §8.8.1
            for sub in node.subscriptions:
                wire.sub(out, "subscription", jid=sub.jid, subscription=sub.state, subid=sub.subid)
        else:  # §8.9.1
            for jid, affiliation in sorted(node.affiliations.items()):
                wire.sub(out, "affiliation", jid=jid, affiliation=affiliation)
        return iq_result(stanza, answer)

    async def handle_set(self, stanza: Stanza) -> Answer:
        el = _owner_el(stanza, _SET)
        node = await self.owned(stanza, el)
        verb = etree.QName(el).localname
        method = {"configure": self.configure, "delete": self.delete, "purge": self.purge,
                  "subscriptions": self.set_subscriptions, "affiliations": self.set_affiliations}[verb]
        return await method(stanza, el, node)

    async def configure(self, stanza: Stanza, el: etree._Element, node: NodeView) -> Answer:
        """§8.2.4: apply the submitted form; §8.2.3 notify_config."""
        values = wire.submitted(el, ns.PUBSUB_NODE_CONFIG)
        if values is None:
            raise PubsubError("bad-request", text="a node_config form is expected")
        if not values:  # §8.2.5: cancelled
            return iq_result(stanza)
        config = cfg.apply_submission(node.config, values)
        updated = await db(actions.do_configure_node, node.service, node.name, config)
        self.server.router.reply(stanza, iq_result(stanza))
        if updated is not None and updated.notify_on("config"):
            await self.notifier.configured(updated)
        return True

    async def delete(self, stanza: Stanza, el: etree._Element, node: NodeView) -> Answer:
        """§8.4: delete, notifying subscribers (with the redirect URI, §8.4.2)."""
        redirect = wire.child(el, "redirect")
        uri = redirect.get("uri") if redirect is not None else None
        await db(actions.do_delete_node, node.service, node.name)
        self.server.router.reply(stanza, iq_result(stanza))
        if node.notify_on("delete"):
            await self.notifier.deleted(node, uri)
        return True

    async def purge(self, stanza: Stanza, el: etree._Element, node: NodeView) -> Answer:
        """§8.5: remove every item; subscribers hear of it when notify_retract (§8.5.2)."""
        if not node.config.get(cfg.PERSIST, True):
            raise PubsubError("feature-not-implemented", "unsupported", feature="persistent-items")
        await db(actions.do_purge_node, node.service, node.name)
        self.server.router.reply(stanza, iq_result(stanza))
        if node.notify_on("retract"):
            await self.notifier.purged(node)
        return True

    async def set_subscriptions(self, stanza: Stanza, el: etree._Element, node: NodeView) -> Answer:
        """§8.8.2: the owner sets subscription states; the subscribers are told (§8.8.4)."""
        changes = [(_jid(s.get("jid")), s.get("subscription"), s.get("subid"))
                   for s in el.findall(ns.q(ns.PUBSUB_OWNER, "subscription"))]
        for _, state, _subid in changes:
            if state not in SUBSCRIPTION_STATES:
                raise PubsubError("bad-request", text=f"unknown subscription state {state!r}")
        for jid, state, subid in changes:
            await db(actions.do_set_subscription, node.service, node.name, jid, state, subid)
        self.server.router.reply(stanza, iq_result(stanza))
        for jid, state, _ in changes:
            await self.notifier.to_one(node.service, jid, lambda e, j=jid, s=state: wire.subscription_element(
                e, node.name, j, s))
        return True

    async def set_affiliations(self, stanza: Stanza, el: etree._Element, node: NodeView) -> Answer:
        """§8.9.2: set affiliations; the last owner may not drop out (§8.9.2.4)."""
        changes = [(str(JID.parse(_jid(a.get("jid"))).bare), a.get("affiliation") or "")
                   for a in el.findall(ns.q(ns.PUBSUB_OWNER, "affiliation"))]
        owners = {j for j, a in node.affiliations.items() if a == access.OWNER}
        for jid, affiliation in changes:
            access.check_affiliation_value(affiliation)
            (owners.add if affiliation == access.OWNER else owners.discard)(jid)
        if not owners and not node.pep:
            raise PubsubError("not-acceptable", text="a node keeps at least one owner")
        for jid, affiliation in changes:
            await db(actions.do_set_affiliation, node.service, node.name, jid, affiliation)
        return iq_result(stanza)

    # -- §8.6 authorize access model ------------------------------------------------------------
    async def ask_owners(self, node: NodeView, sub: Sub) -> None:
        """§8.6.1: a subscribe_authorization form to each owner."""
        form = Form(type="form", title="PubSub subscriber request")
        form.add(Field("FORM_TYPE", type="hidden", values=[ns.PUBSUB_SUBSCRIBE_AUTH]))
        form.add(Field("pubsub#subid", type="hidden", values=[sub.subid]))
        form.add(Field("pubsub#node", type="text-single", label="Node ID", values=[node.name]))
        form.add(Field("pubsub#subscriber_jid", type="jid-single", label="Subscriber Address", values=[sub.jid]))
        form.add(Field(_ALLOW, type="boolean", label="Allow this JID to subscribe to this pubsub node?",
                       values=["0"]))
        for owner in node.owners:
            message = wire.event_message(node.service, owner, "normal")[0]
            message.remove(message[0])  # the form alone, no <event/> (§8.6.1 example)
            message.append(wire.form_element(form))
            await self.notifier.deliver(message, owner)

    async def authorization(self, stanza: Stanza) -> bool | None:
        """§8.6.2: the owner's submitted form approves or denies a pending subscription."""
        x = stanza.el.find(ns.q(ns.DATA_FORMS, "x"))
        if x is None or stanza.from_ is None:
            return None
        values = wire.submitted(stanza.el, ns.PUBSUB_SUBSCRIBE_AUTH)
        if not values:
            return True
        name = (values.get("pubsub#node") or [""])[0]
        subid = (values.get("pubsub#subid") or [""])[0]
        allow = (values.get(_ALLOW) or ["0"])[0] in ("1", "true")
        node = await self.requests.load(self.requests.service_of(stanza), name)
        access.check_owner(await relation(self.server, node, stanza.from_))
        pending = [s for s in node.subscriptions if s.subid == subid and s.state == PENDING]
        if not pending:
            return True
        sub = pending[0]
        state = SUBSCRIBED if allow else "none"
        await db(actions.do_set_subscription, node.service, node.name, sub.jid, state, subid)
        # §8.6.2: the subscriber hears the outcome.
        await self.notifier.to_one(node.service, sub.jid, lambda e: wire.subscription_element(
            e, node.name, sub.jid, state, subid if allow else None))
        if allow:
            await self.requests.after_subscribe(node, sub.jid)
        return True

    async def pep_authorization(self, stanza: Stanza) -> bool | None:
        """XEP-0163 §4 / XEP-0060 §8.6.2 on PEP: the owner answers the authorization form by
        sending it from one of its resources to its own bare JID (the PEP service). The
        request itself (from the bare JID, no resource) and other messages pass on."""
        frm, to = stanza.from_, stanza.to
        if frm is None or to is None or frm.resource is None or frm.bare != to.bare:
            return None
        x = find_form(stanza.el, ns.PUBSUB_SUBSCRIBE_AUTH)
        if x is None or x.get("type") != "submit":
            return None
        return await self.authorization(stanza)
