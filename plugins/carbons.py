"""XEP-0280: Message Carbons.

A client turns carbons on or off for its own session with <enable/> or <disable/>
(§4, §5); the flag is the module's session state `data["carbons"]`, replicated to the
other cluster nodes. While routing an eligible message (§6.1) this module copies it,
wrapped in XEP-0297 <forwarded/>, to the user's carbons-enabled resources that do not get
the original: <received/> copies for a local recipient's other resources (§7), <sent/>
copies for the sender's other resources (§8). The original is left untouched: a
<private/> element reaches the recipient (§9 interop note).

Hooks handled (all synchronous, priority COPY, always returning None so that routing
continues; a module that drops a message, e.g. blocking, hooks at POLICY):
  iq-set host urn:xmpp:carbons:2:enable / :disable — the request's own session (§4, §5)
  pre-message/{bare,full,host} — the sender's side: sent copies of what a local client
      sends, wherever it goes (a local user, another domain, a component)
  message/bare, message/full — the receiver's side: received copies for a local
      recipient; who gets the original is computed with plugins/message.py's rules
Disco feature: urn:xmpp:carbons:2 (§3).

Hot path: no database, and nothing is copied or serialized unless a session of the
sender or recipient has carbons enabled (a look at that user's few sessions).
Cluster: the flag travels with the session, so resources bound on other nodes get their
copies through the channel layer like any stanza.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lxml import etree

from plugins.message import _targets
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.origin import CLIENT
from xmppd.priorities import COPY

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

MODULE = "carbons"  # key of the flag in Session.data
PRIORITY = COPY  # before plugins/message.py delivers (DELIVER)

# §6.1: chat messages, and normal ones with a body or IM payloads: XEP-0184 receipts,
# XEP-0085 chat states, XEP-0333 markers, and (MUC rules) XEP-0249 / mediated invitations.
_COPIED_TYPES = frozenset(("chat", "normal"))
_BODY = ns.q(ns.CLIENT, "body")
_IM_NAMESPACES = frozenset((ns.RECEIPTS, ns.CHATSTATES, ns.CHAT_MARKERS, ns.X_CONFERENCE))
# §9 / §6.1: <private/>; the XEP-0334 <no-copy/> hint ("not copied ... through Message Carbons");
# carbons themselves are never copied again.
_NEVER_COPIED = frozenset((ns.q(ns.CARBONS, "private"), ns.q(ns.HINTS, "no-copy"),
                           ns.q(ns.CARBONS, "sent"), ns.q(ns.CARBONS, "received")))
_MUC_X = ns.q(ns.MUC_USER, "x")
_MUC_INVITE = ns.q(ns.MUC_USER, "invite")


def _namespace(tag: str) -> str:
    return tag[1:tag.index("}")] if tag[0] == "{" else ""


def is_eligible(el: etree._Element, mtype: str, *, inbound: bool = False) -> bool:
    """§6.1: may this message be carbon-copied? `inbound`: the copies are <received/> ones.

    Errors are not copied: telling which message an error answers would need a record of
    every copied message (the §6.1 error rule is a SHOULD, urn:xmpp:carbons:rules:0 is
    therefore not advertised). Groupchat and headline messages are not IM (§6.1).
    """
    if mtype not in _COPIED_TYPES:
        return False
    im_payload = mtype == "chat"
    muc_x: etree._Element | None = None
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag in _NEVER_COPIED:
            return False
        if tag == _BODY or _namespace(tag) in _IM_NAMESPACES:
            im_payload = True
        elif tag == _MUC_X:
            muc_x = child
    if muc_x is not None:
        if muc_x.find(_MUC_INVITE) is not None:
            return True  # §6.1 MUC rules: a mediated invitation is copied
        if inbound:
            return False  # §6.1: a private message from a MUC participant: the room copies it
    return im_payload


def is_enabled(session: Any) -> bool:
    """Whether `session` asked for carbons (on this node or, replicated, on another)."""
    return session.data.get(MODULE) is True


def carbon(direction: str, user: Any, original: etree._Element, to: Any) -> etree._Element:
    """§7 / §8: <message from=user-bare><{direction}><forwarded>original</forwarded>...</message>.

    'to' on the wrapper is set per copy; `to` fills in the original's 'to' when the
    client left it out (RFC 6121 §8.5: addressed to its own bare JID).
    """
    wrapper = make("message", from_=user, type_=original.get("type"))
    wrap = etree.SubElement(wrapper, ns.q(ns.CARBONS, direction), nsmap={None: ns.CARBONS})
    forwarded = etree.SubElement(wrap, ns.q(ns.FORWARD, "forwarded"), nsmap={None: ns.FORWARD})
    inner = copy.deepcopy(original)
    if inner.get("to") is None and to is not None:
        inner.set("to", str(to))
    forwarded.append(inner)
    return wrapper


class Carbons:
    def __init__(self, server: "Server") -> None:
        self.server = server

    # -- §4, §5: enabling and disabling ---------------------------------------------------
    def _own_session(self, stanza: Stanza) -> "Session":
        origin = stanza.origin
        if stanza.from_ is None or origin is None or origin.kind != CLIENT:
            raise StanzaError("not-allowed", "carbons are for clients of this server")  # §4.1, §5.1
        if stanza.to is not None and stanza.to.domain != stanza.from_.domain:
            raise StanzaError("not-allowed", "ask your own server")
        return origin

    def enable(self, stanza: Stanza) -> etree._Element:
        # §10.1: enabling twice is not an error.
        self.server.sessions.set_state(self._own_session(stanza), MODULE, True)
        return iq_result(stanza)

    def disable(self, stanza: Stanza) -> etree._Element:
        self.server.sessions.set_state(self._own_session(stanza), MODULE, None)
        return iq_result(stanza)

    # -- routing ------------------------------------------------------------------------
    def _enabled(self, bare: Any) -> list["Session"]:
        resources = self.server.sessions.by_bare.get(bare)
        if not resources:
            return []
        return [s for s in resources.values() if is_enabled(s) and not s.is_closed]

    @staticmethod
    def _sender(stanza: Stanza) -> "Session | None":
        """The local client session that sent `stanza`, or None (s2s, the server itself)."""
        origin = stanza.origin
        return origin if origin is not None and origin.kind == CLIENT else None

    def _receivers_of_original(self, stanza: Stanza, mtype: str) -> list["Session"]:
        """Who plugins/message.py delivers the original to (RFC 6121 §8.5.2, §8.5.3)."""
        to = stanza.to
        if to.resource is not None:
            session = self.server.sessions.by_full.get(to)
            if session is not None and not session.is_closed:
                return [session]
        return _targets(self.server.sessions.resources(to.bare), mtype)

    @staticmethod
    def _send(direction: str, stanza: Stanza, user: Any, sessions: Iterable["Session"]) -> None:
        wrapper: etree._Element | None = None
        for session in sessions:
            if wrapper is None:
                wrapper = carbon(direction, user, stanza.el, stanza.to)
            wrapper.set("to", str(session.jid))  # §7: the full JID of the receiving resource
            session.send(wrapper)

    def to_local_user(self, stanza: Stanza) -> None:
        """message/bare, message/full (receiver's side): §7 received copies."""
        mtype = stanza.type or "normal"
        if mtype not in _COPIED_TYPES or stanza.to is None or stanza.to.local is None:
            return
        recipient = stanza.to.bare
        sender = self._sender(stanza)
        if sender is not None and sender.bare == recipient:
            return  # to oneself: the sender's side made the only copies (_to_oneself)
        receivers = self._enabled(recipient)
        if receivers and is_eligible(stanza.el, mtype, inbound=True):
            got = self._receivers_of_original(stanza, mtype)
            self._send("received", stanza, recipient, (s for s in receivers if s not in got))

    def from_local_user(self, stanza: Stanza) -> None:
        """pre-message/* (sender's side): §8 sent copies of what a local client sends."""
        mtype = stanza.type or "normal"
        sender = self._sender(stanza)
        if sender is None or mtype not in _COPIED_TYPES:
            return
        to = stanza.to
        if to is not None and to.local is not None and to.bare == sender.bare:
            self._to_oneself(stanza, mtype, sender)
        else:
            self._copy_sent(stanza, mtype, sender)

    def _copy_sent(self, stanza: Stanza, mtype: str, sender: "Session") -> None:
        # §8: to each carbons-enabled resource of the sender but the sending client, whether
        # or not that client enabled carbons.
        others = [s for s in self._enabled(sender.bare) if s is not sender]
        if others and is_eligible(stanza.el, mtype):
            self._send("sent", stanza, sender.bare, others)

    def _to_oneself(self, stanza: Stanza, mtype: str, sender: "Session") -> None:
        # One <sent/> copy for each other enabled resource (§8), none to the sending client,
        # none to the resources that get the original (§7): never two copies for one resource.
        others = [s for s in self._enabled(sender.bare) if s is not sender]
        if others and is_eligible(stanza.el, mtype):
            got = self._receivers_of_original(stanza, mtype)
            self._send("sent", stanza, sender.bare, (s for s in others if s not in got))

def load(server: "Server") -> "Module":
    module = server.module(
        "carbons", xep="XEP-0280", title="Message Carbons", version="1.0.1", status="complete",
        notes="§6.1 rules without the error rule (errors are not copied); the per-session flag "
              "is replicated, so copies reach resources on every cluster node",
    )
    carbons = Carbons(server)
    module.add_feature(ns.CARBONS)
    module.iq("set", ns.CARBONS, "enable", carbons.enable, scope="host")
    module.iq("set", ns.CARBONS, "disable", carbons.disable, scope="host")
    module.session_state(MODULE, replicate=True)
    for event in ("message/bare", "message/full"):
        module.hook(event, carbons.to_local_user, PRIORITY)
    for event in ("pre-message/bare", "pre-message/full", "pre-message/host"):
        module.hook(event, carbons.from_local_user, PRIORITY)
    return module
