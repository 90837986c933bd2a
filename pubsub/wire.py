"""XEP-0060 XML: reading requests and building replies and event notifications.

Everything that turns the engine's values into elements (and back) lives here, so the
handlers (`pubsub.handlers`, `pubsub.owner`) only decide.
"""

from __future__ import annotations

from typing import Any, Iterable

from lxml import etree

from pubsub.engine.errors import PubsubError
from xmppcore import ns
from xmppcore.forms import Field, Form, FormError, build_form, parse_form
from xmppcore.stanza import make

# Items come back from the database as text we wrote ourselves; parsed still with entities,
# DTDs and network off (RFC 6120 §11.1).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_X = ns.q(ns.DATA_FORMS, "x")


def pubsub(namespace: str = ns.PUBSUB) -> etree._Element:
    return etree.Element(ns.q(namespace, "pubsub"), nsmap={None: namespace})


def sub(parent: etree._Element, name: str, **attrs: str | None) -> etree._Element:
    """A child in the parent's namespace; attributes given as None are left out."""
    namespace = etree.QName(parent).namespace
    el = etree.SubElement(parent, ns.q(namespace, name))
    for key, value in attrs.items():
        if value is not None:
            el.set(key, value)
    return el


def child(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(ns.q(etree.QName(parent).namespace, name))


def node_of(el: etree._Element, *, required: bool = True) -> str | None:
    """The 'node' attribute; §6.2.3.x / §7.1.3: missing → bad-request + nodeid-required."""
    node = el.get("node")
    if not node and required:
        raise PubsubError("bad-request", "nodeid-required")
    return node or None


def submitted(parent: etree._Element | None, form_type: str) -> dict[str, list[str]] | None:
    """The values of a data form child of `parent` (None: no form); cancel → {}."""
    if parent is None:
        return None
    x = parent.find(_X)
    if x is None:
        return None
    try:
        form = parse_form(x)
    except FormError as exc:
        raise PubsubError("bad-request", text=str(exc))
    if form.type == "cancel":
        return {}
    if form.type not in ("submit", "result"):
        raise PubsubError("bad-request", text="a form of type submit was expected")
    if form.form_type not in (None, form_type):
        raise PubsubError("bad-request", text=f"FORM_TYPE is not {form_type}")
    return form.values()


def form_element(form: Form) -> etree._Element:
    return build_form(form)


def parse_payload(xml: str) -> etree._Element | None:
    if not xml:
        return None
    try:
        return etree.fromstring(xml, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def serialize(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode")


def item_element(parent: etree._Element, item_id: str, payload: str | None, publisher: str | None = None) -> etree._Element:
    """<item id=...>payload</item> (§6.5.2); no payload when `payload` is None (§7.1.2.2)."""
    el = sub(parent, "item", id=item_id, publisher=publisher or None)
    body = parse_payload(payload) if payload else None
    if body is not None:
        el.append(body)
    return el


def event_message(frm: str, to: str, notification_type: str) -> tuple[etree._Element, etree._Element]:
    """§7.1.2.1: <message from to type><event xmlns=pubsub#event/></message>."""
    message = make("message", to=to, from_=frm,
                   type_=notification_type if notification_type == "headline" else None)
    event = etree.SubElement(message, ns.q(ns.PUBSUB_EVENT, "event"), nsmap={None: ns.PUBSUB_EVENT})
    return message, event


def add_shim(message: etree._Element, subids: Iterable[str]) -> None:
    """XEP-0060 §12.10 / XEP-0131: SubID headers when an entity has several subscriptions."""
    subids = list(subids)
    if len(subids) < 2:
        return
    headers = etree.SubElement(message, ns.q(ns.SHIM, "headers"), nsmap={None: ns.SHIM})
    for subid in subids:
        header = etree.SubElement(headers, ns.q(ns.SHIM, "header"), name="SubID")
        header.text = subid


def subscription_element(parent: etree._Element, node: str | None, jid: str, state: str,
                         subid: str | None = None) -> etree._Element:
    return sub(parent, "subscription", node=node, jid=jid, subscription=state, subid=subid)


def options_from(values: dict[str, list[str]] | None) -> dict[str, Any]:
    """§6.3.5 pubsub#subscribe_options: only pubsub#deliver is kept (a boolean)."""
    if not values:
        return {}
    out: dict[str, Any] = {}
    for var, vals in values.items():
        if var == "FORM_TYPE":
            continue
        if var != "pubsub#deliver":
            raise PubsubError("bad-request", "invalid-options", text=f"{var} is not a subscription option")
        value = vals[0] if vals else ""
        if value not in ("0", "1", "true", "false"):
            raise PubsubError("bad-request", "invalid-options", text="pubsub#deliver is a boolean")
        out[var] = value in ("1", "true")
    return out


def options_form(options: dict[str, Any], form_type: str = "form") -> Form:
    form = Form(type=form_type)
    form.add(Field("FORM_TYPE", type="hidden", values=[ns.PUBSUB_SUBSCRIBE_OPTIONS]))
    deliver = options.get("pubsub#deliver", True)
    form.add(Field("pubsub#deliver", type="boolean", label="Enable delivery?",
                   values=["1" if deliver else "0"]))
    return form
