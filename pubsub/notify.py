"""XEP-0060 §7.1.2 event notifications (and §7.2.2 retract, §8.2.3 config, §8.4.2 delete,
§8.5.2 purge), sent to the node's subscribers; XEP-0163 §4.3 for PEP nodes.

A notification is built once from one template (`build(event)` fills the <event/>); local
full JIDs get its bytes addressed to them (one serialization each, no copy), others (bare JIDs,
other servers, SHIM headers) a copy through the router. Large nodes yield to the event loop every `BATCH` recipients so that one publish
does not hold the loop (the 1:1 message path keeps moving).
"""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Callable

from lxml import etree

from pubsub import wire
from pubsub.engine import config as cfg
from pubsub.engine.node import NodeView, pep_recipients, recipients
from pubsub.relations import presence_subscribers
from xmppcore.jid import JID, InvalidJID

if TYPE_CHECKING:
    from xmppd.server import Server

CAPS_FEATURES = "caps.features"  # Entity Capabilities' session state: the resource's features
BATCH = 200
Build = Callable[[etree._Element], None]


def wants_notify(session: object, node: str) -> bool:
    """XEP-0163 §4.3.3 / XEP-0115: the resource announced `node+notify` (unknown: no)."""
    features = getattr(session, "data", {}).get(CAPS_FEATURES) or frozenset()
    return f"{node}+notify" in features


def addressed(template: etree._Element, to: str) -> bytes:
    """The template's bytes with 'to' set, the template left as it was (serialized once per
    recipient, never copied: the fan-out's cost is one tostring each)."""
    template.set("to", to)
    try:
        return etree.tostring(template)
    finally:
        template.set("to", template.get("from") or "")


def last_item_message(node: NodeView, to: str, item: tuple[str, str, str]) -> etree._Element:
    """§4.3 / §13.10 (Item Caching): the node's last item as one event notification to `to`,
    with its payload when pubsub#deliver_payloads."""
    item_id, publisher, payload = item
    message, event = wire.event_message(node.service, to, node.config.get(cfg.NOTIFICATION_TYPE, "headline"))
    items = wire.sub(event, "items", node=node.name)
    wire.item_element(items, item_id, payload if node.config.get(cfg.DELIVER_PAYLOADS, True) else None, publisher)
    return message


class Notifier:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.sent = 0  # notifications written (bench and tests)

    async def send(self, node: NodeView, build: Build, *, implicit: bool = True) -> int:
        """One notification to each recipient of `node`; how many were sent."""
        frm = node.service
        kind = node.config.get(cfg.NOTIFICATION_TYPE, "headline")
        template, event = wire.event_message(frm, frm, kind)
        build(event)
        targets = recipients(node)
        count = 0
        if node.pep and implicit and node.delivers:
            count += await self._pep(node, template, set(targets))
        for n, (jid, subids) in enumerate(targets.items(), 1):
            if len(subids) > 1 or not self._write(template, jid):
                message = copy.deepcopy(template)
                message.set("to", jid)
                wire.add_shim(message, subids)
                await self.deliver(message, jid)
            count += 1
            if n % BATCH == 0:
                await asyncio.sleep(0)
        self.sent += count
        return count

    async def _pep(self, node: NodeView, template: etree._Element, explicit: set[str]) -> int:
        """XEP-0163 §4.3.1: the owner's and its contacts' resources that asked with +notify."""
        owner = JID.parse(node.service)
        contacts = [str(j) for j in presence_subscribers(self.server, owner)]
        count = 0
        for bare in pep_recipients(str(owner), contacts, node):
            try:
                bare_jid = JID.parse(bare)
            except InvalidJID:
                continue
            for session in self.server.sessions.available(bare_jid):
                if str(session.jid) in explicit or bare in explicit or not wants_notify(session, node.name):
                    continue
                session.send_bytes(addressed(template, str(session.jid)))
                count += 1
            if count and count % BATCH == 0:
                await asyncio.sleep(0)
        return count

    def _write(self, template: etree._Element, to: str) -> bool:
        """The fast path: a local full JID gets the template's bytes, addressed (no copy)."""
        try:
            jid = JID.parse(to)
        except InvalidJID:
            return True  # nothing to deliver to
        session = self.server.sessions.get(jid) if jid.resource else None
        if session is None or session.is_closed:
            return False
        return session.send_bytes(addressed(template, to))

    async def deliver(self, message: etree._Element, to: str) -> None:
        try:
            jid = JID.parse(to)
        except InvalidJID:
            return
        session = self.server.sessions.get(jid) if jid.resource else None
        if session is not None and not session.is_closed and session.send(message):
            return
        frm = JID.parse(message.get("from"))
        host = self.server.hosts.get(frm.domain)
        await self.server.router.route(message, host.origin if host is not None else None)

    # -- the events ------------------------------------------------------------------------
    async def published(self, node: NodeView, item_id: str, payload: str | None, publisher: str) -> int:
        """§7.1.2: the item, with its payload when pubsub#deliver_payloads (§7.1.2.2)."""
        with_payload = node.config.get(cfg.DELIVER_PAYLOADS, True)

        def build(event: etree._Element) -> None:
            items = wire.sub(event, "items", node=node.name)
            wire.item_element(items, item_id, payload if with_payload else None, publisher)
        return await self.send(node, build)

    async def retracted(self, node: NodeView, item_ids: list[str]) -> int:
        def build(event: etree._Element) -> None:
            items = wire.sub(event, "items", node=node.name)
            for item_id in item_ids:
                wire.sub(items, "retract", id=item_id)
        return await self.send(node, build)

    async def deleted(self, node: NodeView, redirect: str | None) -> int:
        def build(event: etree._Element) -> None:
            delete = wire.sub(event, "delete", node=node.name)
            if redirect:
                wire.sub(delete, "redirect", uri=redirect)
        return await self.send(node, build)

    async def purged(self, node: NodeView) -> int:
        return await self.send(node, lambda event: wire.sub(event, "purge", node=node.name))

    async def configured(self, node: NodeView) -> int:
        def build(event: etree._Element) -> None:
            el = wire.sub(event, "configuration", node=node.name)
            if node.config.get(cfg.DELIVER_PAYLOADS, True):  # §8.2.3 with the form
                el.append(wire.form_element(cfg.config_form(node.config, "result")))
        return await self.send(node, build)

    async def to_one(self, frm: str, to: str, build: Build, kind: str = "normal") -> None:
        """A single event message (authorization forms, subscription state changes)."""
        message, event = wire.event_message(frm, to, kind)
        build(event)
        await self.deliver(message, to)
