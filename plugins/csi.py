"""XEP-0352: Client State Indication.

A bound client says <inactive/> or <active/> (nonzas in urn:xmpp:csi:0, offered as the
stream feature <csi/> after authentication, §2). Every stream begins active (§4); while a
session is inactive this module holds what the user would not miss now and lets through
at once what matters (the traffic optimisations of §1, as Prosody's mod_csi_simple):

- held: presence updates (available, unavailable, error: only the newest per contact full
  JID is kept), chat-state-only messages (XEP-0085: held like mod_csi_simple does, and
  likewise only the newest per contact full JID), headlines (PEP notifications), receipts
  and markers, groupchat messages that do not mention the user's nick;
- important, never delayed: IQs, subscription requests, errors, messages with a body or
  a subject, encrypted messages (OMEMO, OX, legacy PGP, EME — OTR has a body), Jingle
  message initiation (calls), invitations, a groupchat message whose body contains the
  user's nick in that room (a mention), and carbons of any of these (XEP-0280 copies are
  judged by the message they carry).

When an important stanza arrives, everything held is written first, in order, then the
stanza (RFC 6120 §10.1 order is kept); <active/> flushes too, before anything read after it
is processed (§5), and so does a full buffer (`XMPP_CSI_QUEUE_MAX` stanzas). A lost
transport flushes into whatever keeps the session (XEP-0198 counts and resends), since a
resumed stream begins active again (§6); held messages nobody can take then, or when the
session ends, are routed again (`xmppd.delivery.salvage`): never lost.

Hot path: an active session has no filter at all. While inactive, the session's first
outbound filter (`xmppd.sessions.Session.outbound`, ahead of XEP-0198 counting so that a
held stanza is counted when it is written) classifies each stanza. Module state:
`data["csi"]` = "inactive" (replicated: other cluster nodes may look at it; nothing is held
there, a stanza for this session is held where the session is bound), the queue and the
nicks of the rooms joined from this session (local).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError
from xmppd.delivery import salvage
from xmppd.priorities import DEFAULT, OBSERVE

if TYPE_CHECKING:
    from xmppcore.stanza import Stanza
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

MODULE = "csi"  # replicated flag: "inactive", absent while active
QUEUE = "csi.queue"  # the session's CsiQueue while inactive (local)
NICKS = "csi.nicks"  # room bare JID -> the nick this session joined with (local)
INACTIVE = "inactive"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_MESSAGE = ns.q(ns.CLIENT, "message")
_PRESENCE = ns.q(ns.CLIENT, "presence")
_BODY = ns.q(ns.CLIENT, "body")
_SUBJECT = ns.q(ns.CLIENT, "subject")
_THREAD = ns.q(ns.CLIENT, "thread")
_CARBON_INNER = (f"{{{ns.CARBONS}}}*/{{{ns.FORWARD}}}forwarded/{{{ns.CLIENT}}}message")
_MUC_INVITE = f"{{{ns.MUC_USER}}}x/{{{ns.MUC_USER}}}invite"
_MUC_JOIN = ns.q(ns.MUC, "x")
# Payloads that make a message worth waking the device for.
_IMPORTANT_CHILDREN = frozenset((
    _BODY, _SUBJECT,
    ns.q(ns.OMEMO_LEGACY, "encrypted"), ns.q(ns.OMEMO, "encrypted"), ns.q(ns.OPENPGP, "openpgp"),
    ns.q(ns.X_ENCRYPTED, "x"), ns.q(ns.EME, "encryption"), ns.q(ns.X_CONFERENCE, "x"),
))
_IMPORTANT_NAMESPACES = frozenset((ns.JINGLE_MESSAGE,))
# What may sit next to a chat state in a "chat-state-only" message.
_CHATSTATE_COMPANIONS = frozenset((ns.CHATSTATES, ns.HINTS, ns.STANZA_ID, ns.DELAY))
_UNIMPORTANT_PRESENCE = frozenset((None, "unavailable", "error"))


def _namespace(tag: str) -> str:
    return tag[1:tag.index("}")] if tag[0] == "{" else ""


def _children(el: etree._Element) -> list[etree._Element]:
    return [child for child in el if isinstance(child.tag, str)]


def is_chat_state_only(msg: etree._Element) -> bool:
    """A message carrying an XEP-0085 chat state and nothing a user would read."""
    children = _children(msg)
    return any(_namespace(c.tag) == ns.CHATSTATES for c in children) and all(
        c.tag == _THREAD or _namespace(c.tag) in _CHATSTATE_COMPANIONS for c in children)


def _mentions(msg: etree._Element, nick_of: Callable[[str], str | None]) -> bool:
    """A groupchat message mentions the user when its body contains the user's nick in that
    room; a room whose nick is unknown counts as mentioning (never delay by mistake)."""
    room = (msg.get("from") or "").partition("/")[0]
    nick = nick_of(room)
    body = msg.findtext(_BODY) or ""
    return nick is None or nick.casefold() in body.casefold()


def _is_important_message(msg: etree._Element, nick_of: Callable[[str], str | None]) -> bool:
    mtype = msg.get("type") or "normal"
    if mtype == "error":
        return True  # a delivery failure the user must see
    if mtype == "headline":
        return False  # ephemeral by definition (PEP notifications)
    if msg.find(_MUC_INVITE) is not None:
        return True
    inner = msg.find(_CARBON_INNER)
    if inner is not None:  # XEP-0280: a copy is as important as what it carries
        return _is_important_message(inner, nick_of)
    for child in _children(msg):
        if child.tag in _IMPORTANT_CHILDREN:
            if mtype == "groupchat" and child.tag == _BODY:
                return _mentions(msg, nick_of)
            return True
        if _namespace(child.tag) in _IMPORTANT_NAMESPACES:
            return True
    return False


def is_important(el: etree._Element, nick_of: Callable[[str], str | None] = lambda _: None) -> bool:
    """Must this stanza reach an inactive client at once? (See the module docstring.)"""
    if el.tag == _MESSAGE:
        return _is_important_message(el, nick_of)
    if el.tag == _PRESENCE:
        return el.get("type") not in _UNIMPORTANT_PRESENCE  # subscription requests are
    return True  # IQs, and anything that is not a stanza


def hold_key(el: etree._Element, serial: int) -> tuple[Any, ...]:
    """Held stanzas with the same key replace each other (the newest wins, in its own place
    in the order): presence and chat states per contact full JID; anything else is kept."""
    if el.tag == _PRESENCE:
        return ("presence", el.get("from"))
    if el.tag == _MESSAGE:
        inner = el.find(_CARBON_INNER)
        msg = inner if inner is not None else el
        if is_chat_state_only(msg):
            return ("chatstate", msg.get("from"), msg.get("to"))
    return ("stanza", serial)


class CsiQueue:
    """The outbound filter of one inactive session: holds, replaces, flushes."""

    def __init__(self, limit: int, nicks: dict[str, str],
                 lost: Callable[[list[bytes]], None] = lambda _: None) -> None:
        self.limit = max(1, limit)
        self.nicks = nicks
        self.lost = lost  # gets what a flush could not write (the transport died meanwhile)
        self.held: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._serial = itertools.count()

    def __call__(self, session: "Session", data: bytes, el: etree._Element | None) -> bytes | None:
        if el is None:  # serialized elsewhere (another node, several resources at once)
            try:
                el = etree.fromstring(data, _PARSER)
            except etree.XMLSyntaxError:
                el = None
        if el is None or is_important(el, self.nicks.get):
            self.flush_or_lose(session)
            return data
        key = hold_key(el, next(self._serial))
        self.held.pop(key, None)
        self.held[key] = data  # bytes: the element may be changed by its sender afterwards
        if len(self.held) >= self.limit:
            self.flush_or_lose(session)
        return None

    def flush_or_lose(self, session: "Session") -> None:
        unwritten = self.flush(session)
        if unwritten:
            self.lost(unwritten)

    def flush(self, session: "Session") -> list[bytes]:
        """Write what is held, in order, through the filters after this one; returns what
        nobody took (the transport is gone and nothing keeps the session)."""
        if not self.held:
            return []
        held, self.held = list(self.held.values()), OrderedDict()
        return [data for data in held if not self._write_on(session, data)]

    def take_all(self) -> list[bytes]:
        held, self.held = list(self.held.values()), OrderedDict()
        return held

    def _write_on(self, session: "Session", data: bytes) -> bool:
        chain = session.outbound
        after = chain[chain.index(self) + 1:] if self in chain else chain
        for outbound in after:
            result = outbound(session, data, None)
            if result is None:
                return True
            data = result
        writer = session.writer
        return writer(data) if writer is not None else False


class ClientState:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.tasks: set[asyncio.Task[None]] = set()

    def salvage_soon(self, leftover: list[bytes]) -> None:
        """Held stanzas a flush could not write are routed again (`xmppd.delivery.salvage`)."""
        task = asyncio.get_running_loop().create_task(salvage(self.server, leftover))
        self.tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self.tasks.discard)

    def feature(self, driver: Any) -> etree._Element | None:
        """§2: offered in the stream features once the client has authenticated."""
        if not driver.is_authenticated:
            return None
        return etree.Element(ns.q(ns.CSI, "csi"), nsmap={None: ns.CSI})

    def nonza(self, driver: Any, el: etree._Element) -> None:
        name = etree.QName(el).localname
        session = driver.session
        if name not in ("active", "inactive"):
            raise StreamError("unsupported-stanza-type", f"unknown element <{name}/>")
        if session is None:  # RFC 6120 §4.9.3.20: a session's state needs a session
            raise StreamError("not-authorized", "bind a resource first")
        if name == "inactive":
            self.deactivate(session)
        else:
            self.activate(session)

    def deactivate(self, session: "Session") -> None:
        if session.data.get(QUEUE) is not None:
            return
        queue = CsiQueue(self.server.config.csi_queue_max, session.data.setdefault(NICKS, {}),
                         self.salvage_soon)
        session.data[QUEUE] = queue
        session.outbound = (queue, *session.outbound)  # first: held stanzas are not yet counted
        self.server.sessions.set_state(session, MODULE, INACTIVE)

    def activate(self, session: "Session") -> None:
        """Back to active (§4), or a new transport (§6): the filter goes, the held stanzas
        are written in order before anything else."""
        queue = session.data.pop(QUEUE, None)
        if queue is None:
            return
        queue.flush_or_lose(session)
        session.remove_outbound(queue)
        self.server.sessions.set_state(session, MODULE, None)

    async def transport_lost(self, session: "Session") -> None:
        """The connection is gone: what is held goes to whatever keeps the session (XEP-0198
        resends it after <resumed/>, §6: a resumed stream is active); what nobody took is
        routed again like any unsent output (`salvage`: messages to another resource or
        offline, presence dropped). Returns None: the session's fate is not CSI's call."""
        queue = session.data.pop(QUEUE, None)
        if queue is None:
            return
        unwritten = queue.flush(session)
        session.remove_outbound(queue)
        self.server.sessions.set_state(session, MODULE, None)
        await salvage(self.server, unwritten)

    async def session_closed(self, session: "Session", _unavailable: Any = None) -> None:
        """Ended while inactive (a clean close, a kick): the held stanzas are routed again."""
        queue = session.data.pop(QUEUE, None)
        if queue is not None:
            session.remove_outbound(queue)
            await salvage(self.server, queue.take_all())

    @staticmethod
    def track_nick(stanza: "Stanza") -> None:
        """pre-presence/full: remember the nick a client of this node joins a room with
        (XEP-0045 §7.2: presence to room/nick with <x xmlns=muc/>), follows nick changes
        (§7.6) and forgets the room when it leaves (§7.14)."""
        session, to = stanza.origin, stanza.to
        if getattr(session, "kind", None) != "client" or to is None or to.resource is None:
            return
        nicks = session.data.get(NICKS)
        room = str(to.bare)
        if stanza.el.find(_MUC_JOIN) is not None:
            session.data.setdefault(NICKS, {})[room] = to.resource
        elif nicks is not None and room in nicks:
            if stanza.type == "unavailable":
                if nicks[room] == to.resource:
                    del nicks[room]
            elif stanza.type is None:
                nicks[room] = to.resource


def load(server: "Server") -> "Module":
    module = server.module(
        "csi", xep="XEP-0352", title="Client State Indication", version="1.0.0", status="complete",
        notes="mod_csi_simple rules: presence and chat states held (newest per contact), "
              "important stanzas flush; nothing important is delayed",
    )
    state = ClientState(server)
    module.stream_feature(state.feature)
    module.nonza(ns.CSI, state.nonza)
    module.session_state(MODULE, replicate=True)
    module.session_state(QUEUE)
    module.session_state(NICKS)
    module.hook("session/transport-lost", state.transport_lost, OBSERVE)
    # After XEP-0198 gives back what was written and never acknowledged (held ones came later).
    module.hook("session/closed", state.session_closed, DEFAULT)
    module.hook("pre-presence/full", state.track_nick, OBSERVE)
    return module
