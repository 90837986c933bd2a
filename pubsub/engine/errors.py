"""XEP-0060 §7-§8 errors: a stanza error (RFC 6120 §8.3) with its pubsub-specific child.

Pure: raised by the engine, turned into XML by the error path (`to_element`).
"""

from __future__ import annotations

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError


class PubsubError(StanzaError):
    """A stanza error carrying `<{pubsub#errors}name/>` (and, for `unsupported`, the feature)."""

    def __init__(self, condition: str, pubsub: str | None = None, *, feature: str | None = None,
                 text: str | None = None) -> None:
        super().__init__(condition, text)
        self.pubsub = pubsub
        self.feature = feature

    def to_element(self, namespace: str = ns.CLIENT) -> etree._Element:
        el = super().to_element(namespace)
        if self.pubsub:
            child = etree.SubElement(el, ns.q(ns.PUBSUB_ERRORS, self.pubsub),
                                     nsmap={None: ns.PUBSUB_ERRORS})
            if self.feature:
                child.set("feature", self.feature)
        return el


def unsupported(feature: str) -> PubsubError:
    """§7.1.3.x / §12: <feature-not-implemented/> with <unsupported feature='...'/>."""
    return PubsubError("feature-not-implemented", "unsupported", feature=feature)


def node_missing() -> PubsubError:
    return PubsubError("item-not-found", text="no such node")


def forbidden(text: str | None = None) -> PubsubError:
    return PubsubError("forbidden", text=text)
