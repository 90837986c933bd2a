"""XEP-0441: Message Archive Management Preferences (in the urn:xmpp:mam:2 namespace).

Pure values: the `<prefs/>` element read and written, and the decision whether a message
with a given contact goes into the archive (§2.1: 'never' wins over 'always', both over the
default; 'roster' archives contacts in the user's roster).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID, InvalidJID

DEFAULTS = ("always", "never", "roster")
MAX_JIDS = 1000  # per list: the preferences live in memory for every user who set them


@dataclass(frozen=True)
class Prefs:
    default: str
    always: frozenset[str] = field(default_factory=frozenset)
    never: frozenset[str] = field(default_factory=frozenset)

    def decide(self, contact: str, in_roster: bool | None) -> bool | None:
        """Whether a message with bare JID `contact` is archived; None when it depends on
        the roster and `in_roster` is None (not known in memory)."""
        if contact in self.never:
            return False
        if contact in self.always or self.default == "always":
            return True
        if self.default == "never":
            return False
        return in_roster

    def to_element(self) -> etree._Element:
        el = etree.Element(ns.q(ns.MAM, "prefs"), nsmap={None: ns.MAM}, default=self.default)
        for name, jids in (("always", self.always), ("never", self.never)):
            wrapper = etree.SubElement(el, ns.q(ns.MAM, name))
            for jid in sorted(jids):
                etree.SubElement(wrapper, ns.q(ns.MAM, "jid")).text = jid
        return el


def parse(el: etree._Element) -> Prefs:
    """A client's <prefs/> (iq set): bad-request for an unknown default or a bad JID."""
    default = el.get("default")
    if default not in DEFAULTS:
        raise StanzaError("bad-request", "default is one of always, never, roster")
    return Prefs(default, _jids(el.find(ns.q(ns.MAM, "always"))), _jids(el.find(ns.q(ns.MAM, "never"))))


def _jids(wrapper: etree._Element | None) -> frozenset[str]:
    if wrapper is None:
        return frozenset()
    out: set[str] = set()
    for item in wrapper.iterfind(ns.q(ns.MAM, "jid")):
        try:
            out.add(str(JID.parse((item.text or "").strip()).bare))
        except InvalidJID:
            raise StanzaError("jid-malformed", f"not a JID: {item.text!r}") from None
    if len(out) > MAX_JIDS:
        raise StanzaError("policy-violation", f"at most {MAX_JIDS} JIDs per list")
    return frozenset(out)
