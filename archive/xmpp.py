"""XEP-0313: Message Archive Management (urn:xmpp:mam:2), with XEP-0359: Unique and Stable
Stanza IDs and XEP-0441 preferences — the archive app's XMPP face.

What is archived (§5.1.1 User Archives): messages of type chat or normal a local user sends
or receives with a <body/> (or an end-to-end encrypted payload, or a XEP-0334 <store/>
hint); never errors, groupchat (a private message from a room occupant is type chat and is
archived), headlines, chat states alone, or a message with <no-store/> or
<no-permanent-store/>. Each side's archive gets it once: the sender's (`pre-message/*`,
direction out) and the recipient's (`message/bare`, `message/full`, or `message/offline`
when nobody is online; direction in). The recipient's copy is stamped
<stanza-id xmlns='urn:xmpp:sid:0' by='user@domain' id='UID'/> (XEP-0359 §3), the UID of
the row; stanza-ids that claim one of our JIDs are removed first (XEP-0359 §5: a client
or a peer cannot forge them); <origin-id/> is kept and stored.

Hooks handled (COPY priority: after blocking has dropped what the user refused, before
delivery; always None so that routing continues):
  pre-message/{bare,full,host}  the sender's side, for local clients
  message/{bare,full}           the receiver's side, when the user has sessions here
  message/offline               the receiver's side, when the message goes to the offline store
  server/started, server/stopping   the write buffer's task; a last flush at stop
  session/bound                 in a cluster: the user's preferences read again (background)
  disco/info/bare               urn:xmpp:mam:2, urn:xmpp:mam:2#extended, urn:xmpp:sid:0
IQs (to the user's own bare JID; another user's archive is forbidden, §9.1):
  set query (§4), get query (the form, §4.1.5), get metadata (§7), get/set prefs (XEP-0441).
Writes go through the write buffer (archive/buffer.py): the message path only appends.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import itertools
import secrets
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from lxml import etree

from archive import actions, query, rooms
from archive.buffer import Entry, WriteBuffer
from archive.prefs import DEFAULTS, Prefs, parse
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.rsm import First, ResultSet
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.origin import CLIENT
from xmppd.priorities import COPY
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

log = logging.getLogger(__name__)
ROSTER_ITEMS = "rosters.items"  # the rosters app's session state: {contact JID: item}
_ARCHIVED_TYPES = frozenset(("chat", "normal"))
_BODY = ns.q(ns.CLIENT, "body")
_STANZA_ID = ns.q(ns.STANZA_ID, "stanza-id")
_CONTENT_NAMESPACES = frozenset((ns.OMEMO, ns.OMEMO_LEGACY, ns.OPENPGP))
_KEPT = frozenset((_BODY, ns.q(ns.HINTS, "store")))
_NOT_STORED = frozenset((ns.q(ns.HINTS, "no-store"), ns.q(ns.HINTS, "no-permanent-store"),
                         ns.q(ns.CARBONS, "sent"), ns.q(ns.CARBONS, "received"),
                         ns.q(ns.MAM, "result")))
# A room archive's hook on its results: given the page's UIDs, what to do to each message.
Decorate = Callable[[list[str]], Awaitable[Callable[[str, etree._Element], None]]]
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def scan(el: etree._Element, mtype: str) -> tuple[bool, list[etree._Element]]:
    """One pass over the children: (archivable per §5.1.1: chat/normal with a body or another
    payload worth keeping, and no hint against it; the <stanza-id/> children)."""
    keep = drop = False
    sids: list[etree._Element] = []
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:  # comments, processing instructions
            continue
        if tag == _STANZA_ID:
            sids.append(child)
        elif tag in _NOT_STORED:
            drop = True
        elif tag in _KEPT or tag[1:tag.find("}")] in _CONTENT_NAMESPACES:
            keep = True
    return keep and not drop and mtype in _ARCHIVED_TYPES, sids


def is_archivable(el: etree._Element, mtype: str) -> bool:
    return scan(el, mtype)[0]


def strip_stanza_ids(el: etree._Element, sids: list[etree._Element], is_ours: Any) -> None:
    """XEP-0359 §5: remove the <stanza-id/>s whose 'by' `is_ours(by)` says we vouch for."""
    for old in sids:
        if is_ours(old.get("by") or ""):
            el.remove(old)


class Uids:
    """Archive UIDs (XEP-0313 §5.2: unique, never reused, opaque): a random prefix per
    process and a counter — no system call per message."""

    def __init__(self) -> None:
        self.prefix = secrets.token_urlsafe(9)
        self.seq = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.seq):x}"


def xep0082(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Archive:
    def __init__(self, server: "Server") -> None:
        self.server = server
        default = getattr(settings, "XMPP_MAM_DEFAULT", "always")
        if default not in DEFAULTS:
            raise ImproperlyConfigured(f"XMPP_MAM_DEFAULT is one of {', '.join(DEFAULTS)}")
        self.default = Prefs(default)
        self.max_page = int(getattr(settings, "XMPP_MAM_MAX_PAGE", 100))
        self.buffer = WriteBuffer(float(getattr(settings, "XMPP_MAM_FLUSH_INTERVAL", 0.1)),
                                  int(getattr(settings, "XMPP_MAM_FLUSH_ROWS", 500)))
        self.prefs: dict[JID, Prefs] = {}  # archives whose preferences differ from the default
        self._reloads: set[asyncio.Task[None]] = set()
        self.new_uid = Uids()

    # -- lifetime ----------------------------------------------------------------------
    async def started(self, _server: Any) -> None:
        """server/started: every stored preference in memory (rows exist only for users who
        changed the default), then the writer task."""
        self._remember(await db(actions.load_prefs))
        self.buffer.start()

    async def stopping(self, _server: Any) -> None:
        await self.buffer.stop()

    def _remember(self, stored: dict[str, tuple[str, list[str], list[str]]]) -> None:
        for owner, (default, always, never) in stored.items():
            self.prefs[JID.parse(owner)] = Prefs(default, frozenset(always), frozenset(never))

    def bound(self, session: Any) -> None:
        """session/bound: in a cluster, read this user's preferences again in the background
        (another node may have changed them); one node alone has them all in memory."""
        if getattr(self.server, "cluster", None) is not None:
            task = asyncio.get_running_loop().create_task(self._reload(session.bare))
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)

    async def _reload(self, owner: JID) -> None:
        try:
            stored = await db(actions.load_prefs, str(owner))
        except Exception:  # the preferences in memory stay; the next login tries again
            log.exception("archive: reading the preferences of %s failed", owner)
            return
        if stored:
            self._remember(stored)
        else:
            self.prefs.pop(owner, None)

    # -- the message path --------------------------------------------------------------
    def _decide(self, owner: JID, contact: JID, sessions: Any) -> bool | None:
        prefs = self.prefs.get(owner, self.default)
        in_roster = None
        if prefs.default == "roster":
            in_roster = _in_roster(sessions, contact.bare)
        return prefs.decide(str(contact.bare), in_roster)

    def _add(self, owner: JID, contact: JID, direction: str, el: etree._Element,
             sessions: Any) -> tuple[str, bool] | None:
        """Append to `owner`'s archive unless the preferences say no: (the UID, whether the
        write is certain) — uncertain when the roster decides and is not in memory (the
        write then checks the stored roster)."""
        decision = self._decide(owner, contact, sessions)
        if decision is False:
            return None
        uid = self.new_uid()
        self.buffer.append(Entry(owner, contact, direction, uid, time.time(), el, decision is None))
        return uid, decision is True

    def outgoing(self, stanza: Stanza) -> None:
        """pre-message/*: the sender's archive (a local client's message)."""
        origin = stanza.origin
        if origin is None or origin.kind != CLIENT:
            return None
        el = stanza.el
        archivable, sids = scan(el, stanza.type or "normal")
        if sids:
            strip_stanza_ids(el, sids, self._is_our_jid)
        to = stanza.to
        if archivable and to is not None and to.bare != origin.bare:  # to oneself: archived
            self._add(origin.bare, to, "out", el, [origin])  # once, on the receiving side
        return None

    def incoming(self, stanza: Stanza) -> None:
        """message/bare, message/full: the recipient's archive when they have sessions here
        (when they have none, message/offline archives it)."""
        to = stanza.to
        if to is None or to.local is None:
            return None
        owner = to.bare
        el = stanza.el
        archivable, sids = scan(el, stanza.type or "normal")
        if sids:
            strip_stanza_ids(el, sids, str(owner).__eq__)
        if archivable and stanza.from_ is not None:
            sessions = self.server.sessions.resources(owner)
            if sessions:
                self._stamp(owner, stanza, sessions)
        return None

    def offline(self, stanza: Stanza) -> None:
        """message/offline: archive what goes to the store (unless already done above)."""
        to = stanza.to
        el = stanza.el
        if to is None or stanza.from_ is None or not is_archivable(el, stanza.type or "normal"):
            return None
        owner = str(to.bare)
        if any(s.get("by") == owner for s in el.iterfind(_STANZA_ID)):
            return None  # stamped at message/*: archived already
        self._stamp(to.bare, stanza, [])
        return None

    def _stamp(self, owner: JID, stanza: Stanza, sessions: Any) -> None:
        added = self._add(owner, stanza.from_, "in", stanza.el, sessions)
        if added is not None and added[1]:  # XEP-0359 §3: only what is surely archived
            sid = etree.SubElement(stanza.el, _STANZA_ID, nsmap={None: ns.STANZA_ID})
            sid.set("by", str(owner))
            sid.set("id", added[0])

    def _is_our_jid(self, by: str) -> bool:
        """XEP-0359 §5: a JID this server stamps for (a user, a domain, a component)."""
        domain = by.rpartition("@")[2].partition("/")[0].lower()
        return self.server.hosts.get(domain) is not None

    # -- queries -----------------------------------------------------------------------
    @staticmethod
    def _owner(stanza: Stanza) -> JID:
        if stanza.from_ is None or stanza.origin is None or stanza.origin.kind != CLIENT:
            raise StanzaError("forbidden", "an archive is queried by its owner")
        return stanza.from_.bare

    def form(self, stanza: Stanza) -> etree._Element:
        self._owner(stanza)
        return self.form_result(stanza)

    @staticmethod
    def form_result(stanza: Stanza) -> etree._Element:
        """§4.1.5: the query form (every archive, a user's or a room's, has the same)."""
        el = etree.Element(ns.q(ns.MAM, "query"), nsmap={None: ns.MAM})
        el.append(query.form_element())
        return iq_result(stanza, el)

    async def query(self, stanza: Stanza) -> etree._Element:
        """§4: the results as messages to the requester, then the <fin/> result."""
        owner = self._owner(stanza)
        return await self.answer(stanza, owner, stanza.origin.send)

    async def answer(self, stanza: Stanza, owner: JID, send: Callable[[etree._Element], Any],
                     decorate: Decorate | None = None) -> etree._Element:
        """§4 on the archive of `owner` (a user's or a room's): each result message through
        `send` (after `decorate(uids)` has made each forwarded message what this requester
        may see), then the <fin/> IQ result."""
        payload = stanza.payload
        flt = query.parse_filter(payload)
        request = ResultSet.find(payload)
        await self.buffer.flush()  # everything routed before the query is in it
        result = await db(actions.query, str(owner), flt, request, self.max_page)
        rows = result.rows[::-1] if payload.find(ns.q(ns.MAM, "flip-page")) is not None else result.rows
        queryid = payload.get("queryid")
        touch = await decorate([uid for uid, _, _ in rows]) if decorate is not None and rows else None
        for uid, moment, xml in rows:
            msg = _result(stanza.from_, owner, queryid, uid, moment, xml)
            if touch is not None:
                touch(uid, msg[0][0][-1])  # result/forwarded/message
            sent = send(msg)
            if inspect.isawaitable(sent):  # a room's results are routed
                await sent
        fin = etree.Element(ns.q(ns.MAM, "fin"), nsmap={None: ns.MAM})
        fin.set("complete", "true" if result.complete else "false")
        reply = ResultSet(count=result.count)
        if result.rows:
            reply = ResultSet(first=First(uid=result.rows[0][0], index=result.index),
                              last=result.rows[-1][0], count=result.count)
        reply.to_element(fin)
        return iq_result(stanza, fin)

    async def metadata(self, stanza: Stanza) -> etree._Element:
        """§7: the first and last message of the archive; empty <metadata/> when none."""
        return await self.metadata_of(stanza, self._owner(stanza))

    async def metadata_of(self, stanza: Stanza, owner: JID) -> etree._Element:
        await self.buffer.flush()
        found = await db(actions.metadata, str(owner))
        el = etree.Element(ns.q(ns.MAM, "metadata"), nsmap={None: ns.MAM})
        if found is not None:
            for name, (uid, moment) in zip(("start", "end"), found):
                etree.SubElement(el, ns.q(ns.MAM, name), id=uid, timestamp=xep0082(moment))
        return iq_result(stanza, el)

    def get_prefs(self, stanza: Stanza) -> etree._Element:
        owner = self._owner(stanza)
        return iq_result(stanza, self.prefs.get(owner, self.default).to_element())

    async def set_prefs(self, stanza: Stanza) -> etree._Element:
        """XEP-0441 §2.2: store, apply from now on, answer with what is stored."""
        owner = self._owner(stanza)
        prefs = parse(stanza.payload)
        await db(actions.do_set_prefs, str(owner), prefs.default, prefs.always, prefs.never)
        self.prefs[owner] = prefs
        return iq_result(stanza, prefs.to_element())

    @staticmethod
    def forbidden(stanza: Stanza) -> None:
        raise StanzaError("forbidden", "only the owner may use an archive")  # §9.1

    @staticmethod
    def disco(stanza: Stanza, answer: etree._Element) -> None:
        """disco/info/bare: §8, and XEP-0359 §6, on the account's bare JID."""
        for var in (ns.MAM, ns.MAM_EXTENDED, ns.STANZA_ID):
            etree.SubElement(answer, ns.q(ns.DISCO_INFO, "feature"), var=var)
        return None


def _in_roster(sessions: Any, contact: JID) -> bool | None:
    """Whether `contact` is in the roster the user's sessions hold; None when none holds it."""
    for session in sessions:
        items = session.data.get(ROSTER_ITEMS)
        if items is not None:
            item = items.get(contact)
            return item is not None and getattr(item, "is_listed", True)
    return None


def _result(to: JID, owner: JID, queryid: str | None, uid: str, moment: datetime,
            xml: str) -> etree._Element:
    """§4.2: <message><result queryid id><forwarded><delay/>original</forwarded></result>."""
    msg = make("message", to=to, from_=owner)
    result = etree.SubElement(msg, ns.q(ns.MAM, "result"), nsmap={None: ns.MAM}, id=uid)
    if queryid is not None:
        result.set("queryid", queryid)
    forwarded = etree.SubElement(result, ns.q(ns.FORWARD, "forwarded"), nsmap={None: ns.FORWARD})
    etree.SubElement(forwarded, ns.q(ns.DELAY, "delay"), nsmap={None: ns.DELAY}, stamp=xep0082(moment))
    forwarded.append(etree.fromstring(xml, _PARSER))
    return msg


def load(server: "Server") -> "Module":
    module = server.module(
        "archive", xep="XEP-0313", title="Message Archive Management", version="1.1.3",
        status="partial",
        notes="user archives and MUC room archives (archive/rooms.py) with the #extended "
              "fields, flip-page, metadata, XEP-0059 paging and XEP-0431 full text; "
              "room archives keep groupchat messages with a body (not subject changes)")
    server.module("stanza-id", xep="XEP-0359", title="Unique and Stable Stanza IDs",
                  version="0.7.0", status="complete",
                  notes="stamped by the user archive and by logged MUC rooms")
    server.module("mam-prefs", xep="XEP-0441", title="Message Archive Management Preferences",
                  version="0.2.0", status="complete")
    archive = Archive(server)
    module.add_feature(ns.STANZA_ID)
    for event in ("pre-message/bare", "pre-message/full", "pre-message/host"):
        module.hook(event, archive.outgoing, COPY)
    for event in ("message/bare", "message/full"):
        module.hook(event, archive.incoming, COPY)
    module.hook("message/offline", archive.offline, COPY)
    module.hook("server/started", archive.started)
    module.hook("server/stopping", archive.stopping)
    module.hook("session/bound", archive.bound)
    module.hook("disco/info/bare", archive.disco)
    module.iq("set", ns.MAM, "query", archive.query, scope="self")
    module.iq("get", ns.MAM, "query", archive.form, scope="self")
    module.iq("get", ns.MAM, "metadata", archive.metadata, scope="self")
    module.iq("get", ns.MAM, "prefs", archive.get_prefs, scope="self")
    module.iq("set", ns.MAM, "prefs", archive.set_prefs, scope="self")
    for type_, name in (("set", "query"), ("get", "query"), ("get", "metadata"),
                        ("get", "prefs"), ("set", "prefs")):
        module.iq(type_, ns.MAM, name, archive.forbidden, scope="bare")
    rooms.attach(server, archive, module)
    return module
