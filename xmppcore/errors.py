"""Stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3) as exceptions and XML."""

from __future__ import annotations

from lxml import etree

from xmppcore import ns

# RFC 6120 §4.9.3: every defined stream error condition.
STREAM_CONDITIONS = frozenset(
    {
        "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout",
        "host-gone", "host-unknown", "improper-addressing", "internal-server-error",
        "invalid-from", "invalid-namespace", "invalid-xml", "not-authorized",
        "not-well-formed", "policy-violation", "remote-connection-failed", "reset",
        "resource-constraint", "restricted-xml", "see-other-host", "system-shutdown",
        "undefined-condition", "unsupported-encoding", "unsupported-feature",
        "unsupported-stanza-type", "unsupported-version",
    }
)

# RFC 6120 §8.3.3: condition -> the error type the RFC recommends for it.
STANZA_CONDITIONS: dict[str, str] = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}


class StreamError(Exception):
    """A condition that ends the whole stream (RFC 6120 §4.9)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        assert condition in STREAM_CONDITIONS, condition
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text

    def to_element(self) -> etree._Element:
        el = etree.Element(ns.q(ns.STREAM, "error"), nsmap={"stream": ns.STREAM})
        etree.SubElement(el, ns.q(ns.STREAMS_ERRORS, self.condition), nsmap={None: ns.STREAMS_ERRORS})
        if self.text:
            t = etree.SubElement(el, ns.q(ns.STREAMS_ERRORS, "text"), nsmap={None: ns.STREAMS_ERRORS})
            t.set(ns.q(ns.XML, "lang"), "en")
            t.text = self.text
        return el


class StanzaError(Exception):
    """A condition answered with an error stanza (RFC 6120 §8.3)."""

    def __init__(self, condition: str, text: str | None = None, type_: str | None = None,
                 by: str | None = None) -> None:
        assert condition in STANZA_CONDITIONS, condition
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text
        self.type = type_ or STANZA_CONDITIONS[condition]
        self.by = by

    def to_element(self, namespace: str = ns.CLIENT) -> etree._Element:
        el = etree.Element(ns.q(namespace, "error"), nsmap={None: namespace})
        el.set("type", self.type)
        if self.by:
            el.set("by", self.by)
        etree.SubElement(el, ns.q(ns.STANZAS, self.condition), nsmap={None: ns.STANZAS})
        if self.text:
            t = etree.SubElement(el, ns.q(ns.STANZAS, "text"), nsmap={None: ns.STANZAS})
            t.set(ns.q(ns.XML, "lang"), "en")
            t.text = self.text
        return el


def error_reply(stanza: etree._Element, error: StanzaError) -> etree._Element | None:
    """The error response to `stanza` (RFC 6120 §8.3.1), or None when the RFC forbids one.

    An error is never answered with an error (§8.3.1 rule 6), and neither is a
    presence of type unavailable or a subscription handshake bounce loop.
    """
    if stanza.get("type") == "error":
        return None
    namespace = etree.QName(stanza).namespace or ns.CLIENT
    reply = etree.Element(stanza.tag, nsmap={None: namespace})
    for name in ("id",):
        if stanza.get(name) is not None:
            reply.set(name, stanza.get(name))
    # §8.3.1: swap 'from' and 'to'; the original payload MAY be included (we do, as
    # Prosody and ejabberd do for messages, so the sender knows which one failed).
    if stanza.get("from") is not None:
        reply.set("to", stanza.get("from"))
    if stanza.get("to") is not None:
        reply.set("from", stanza.get("to"))
    reply.set("type", "error")
    if etree.QName(stanza).localname != "iq":
        for child in stanza:
            reply.append(_copy(child))
    reply.append(error.to_element(namespace))
    return reply


def _copy(el: etree._Element) -> etree._Element:
    from copy import deepcopy
    return deepcopy(el)
