"""XEP-0313: Message Archive Management — MUC room archives (§3.2 'MUC archives', §5.1.2
business rules), and XEP-0425: Message Moderation of the archived messages.

The MUC service fires `muc/archive (room JID, element, sender)` on the server's bus before it
broadcasts a groupchat message with a body in a room with logging on: the element gets
<stanza-id by='room@service' id=UID/> (XEP-0359 §3; every occupant receives it) and a copy,
without any <x xmlns='…muc#user'/> (§11 'MUC message spoofing'), goes to the write buffer
under owner = the room's bare JID, with = the sender's real full JID (the publisher, §4.1.1).

On each MUC component host (the room's JID; the room itself is asked through `muc/access` and
`muc/broadcast` on that host's bus, answered by muc/archive_link.py):
  set/get query, get metadata (urn:xmpp:mam:2)  only for whoever may read the archive now:
      in a members-only room its owners, admins and members; in a password-protected room
      its occupants; elsewhere anyone not banned. Results come from the room's JID, the
      forwarded messages from room/nick; the publisher's real JID is added in
      <x xmlns='…muc#user'><item jid/></x> only when the requester may see real JIDs
      (non-anonymous room, or a moderator); `with` is refused to the others (§4.1.1).
  set moderate (urn:xmpp:message-moderate:1, XEP-0425 §4)  a moderator retracts a message by
      its stanza-id: the room broadcasts the XEP-0424 <retract/> with <moderated/>, the row
      becomes a tombstone with <retracted/>; forbidden for others, item-not-found when the
      archive has no such id.
  disco/info/bare  urn:xmpp:mam:2 and urn:xmpp:message-moderate:1 for a logged room.
"""

from __future__ import annotations

import copy
import secrets
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from lxml import etree

from archive import actions
from archive.buffer import Entry
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.priorities import DEFAULT
from xmppd.storage import db

if TYPE_CHECKING:
    from archive.xmpp import Archive
    from xmppd.hosts import Host
    from xmppd.modules import Module
    from xmppd.server import Server

MODERATE_VERSION = "0.3.0"
_STANZA_ID = ns.q(ns.STANZA_ID, "stanza-id")
_MUC_X = ns.q(ns.MUC_USER, "x")
_OCCUPANT_ID = ns.q(ns.OCCUPANT_ID, "occupant-id")
_KEPT_IN_TOMBSTONE = frozenset((_STANZA_ID, _OCCUPANT_ID))
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class RoomArchive:
    def __init__(self, archive: "Archive") -> None:
        self.archive = archive

    # -- the write side (server bus) ---------------------------------------------------------
    def message(self, room: JID, el: etree._Element, sender: str) -> None:
        """muc/archive: stamp the broadcast element, archive a copy (the shared element goes
        on to every occupant and into the room's history: the buffer keeps its own)."""
        uid = self.archive.new_uid()
        sid = etree.SubElement(el, _STANZA_ID, nsmap={None: ns.STANZA_ID})
        sid.set("by", str(room))
        sid.set("id", uid)
        kept = copy.deepcopy(el)
        for x in kept.findall(_MUC_X):
            kept.remove(x)
        self.archive.buffer.append(Entry(room, JID.parse(sender), "in", uid, time.time(), kept, False))

    # -- the room's JID (component bus) ------------------------------------------------------
    async def view(self, host: "Host", stanza: Stanza) -> Any:
        """The room as the requester may see it (muc/archive_link.RoomView); item-not-found
        when there is no such room, feature-not-implemented when it keeps no archive."""
        if stanza.to is None or stanza.from_ is None:
            raise StanzaError("bad-request", "a room archive is queried at the room's JID")
        found = await host.hooks.fire("muc/access", str(stanza.to.bare), str(stanza.from_))
        if found is None:
            raise StanzaError("item-not-found", "no such room")
        if not found.logged:
            raise StanzaError("feature-not-implemented", "this room keeps no archive")
        return found

    async def readable(self, host: "Host", stanza: Stanza) -> Any:
        found = await self.view(host, stanza)
        if not found.may_read:  # §5.1.2: the right to enter the room, at the time of the query
            raise StanzaError("forbidden", "only those who may enter the room read its archive")
        return found

    async def query(self, host: "Host", stanza: Stanza) -> etree._Element:
        found = await self.readable(host, stanza)
        with_ = stanza.payload.find(".//{jabber:x:data}field[@var='with']")
        if with_ is not None and not found.sees_jids:  # §4.1.1: publishers are not for everyone
            raise StanzaError("forbidden", "the publishers' JIDs are not shown to you")
        room = stanza.to.bare
        decorate = self._real_jids(room) if found.sees_jids else None
        return await self.archive.answer(stanza, room, lambda msg: self._send(host, msg), decorate)

    def _real_jids(self, room: JID) -> Callable[..., Any]:
        async def decorate(uids: list[str]) -> Callable[[str, etree._Element], None]:
            real = await db(actions.senders, str(room), uids)

            def touch(uid: str, forwarded: etree._Element) -> None:
                jid = real.get(uid)
                if jid:  # §5.1.2: the occupant's full JID, as in non-anonymous presence
                    x = etree.SubElement(forwarded, _MUC_X, nsmap={None: ns.MUC_USER})
                    etree.SubElement(x, ns.q(ns.MUC_USER, "item"), jid=jid)
            return touch
        return decorate

    @staticmethod
    async def _send(host: "Host", msg: etree._Element) -> None:
        """A result message from the room's JID, routed (the requester may be anywhere)."""
        to, from_ = JID.parse(msg.get("to")), JID.parse(msg.get("from"))
        await host.server.router.dispatch(Stanza(msg, "message", to, from_, host.origin))

    async def form(self, host: "Host", stanza: Stanza) -> etree._Element:
        await self.readable(host, stanza)
        return self.archive.form_result(stanza)

    async def metadata(self, host: "Host", stanza: Stanza) -> etree._Element:
        await self.readable(host, stanza)
        return await self.archive.metadata_of(stanza, stanza.to.bare)

    async def disco(self, host: "Host", stanza: Stanza, answer: etree._Element) -> None:
        """disco/info/bare of a room (after the MUC's own): the archive's features, when logged."""
        if stanza.to is None or stanza.to.local is None or stanza.from_ is None:
            return None
        found = await host.hooks.fire("muc/access", str(stanza.to.bare), str(stanza.from_))
        if found is not None and found.logged:
            form = answer.find(ns.q(ns.DATA_FORMS, "x"))
            for var in (ns.MAM, ns.MESSAGE_MODERATE):
                feature = etree.Element(ns.q(ns.DISCO_INFO, "feature"), var=var)
                if form is not None:  # XEP-0128 §2: the forms stay last
                    form.addprevious(feature)
                else:
                    answer.append(feature)
        return None

    # -- XEP-0425 ------------------------------------------------------------------------------
    async def moderate(self, host: "Host", stanza: Stanza) -> etree._Element:
        """§4: a moderator retracts an archived message of the room by its stanza-id."""
        found = await self.view(host, stanza)
        if not found.moderator:
            raise StanzaError("forbidden", "only moderators retract the room's messages")
        payload = stanza.payload
        uid = payload.get("id") or ""
        if not uid or payload.find(ns.q(ns.MESSAGE_RETRACT, "retract")) is None:
            raise StanzaError("bad-request", "moderate names a message (id) and holds <retract/>")
        room = str(stanza.to.bare)
        await self.archive.buffer.flush()
        xml = await db(actions.stored, room, uid)
        if xml is None:
            raise StanzaError("item-not-found", "no such message in the room's archive")
        reason = payload.findtext(ns.q(ns.MESSAGE_MODERATE, "reason"))
        moderated = moderated_by(room, found)
        await db(actions.do_replace_stanza, room, uid,
                  etree.tostring(tombstone(xml, moderated, reason), encoding="unicode"))
        await host.hooks.fire("muc/broadcast", room, retraction(room, uid, moderated, reason))
        return iq_result(stanza)


def moderated_by(room: str, found: Any) -> etree._Element:
    """XEP-0425 §4: <moderated by='room/moderator-nick'><occupant-id/></moderated>."""
    moderated = etree.Element(ns.q(ns.MESSAGE_MODERATE, "moderated"), nsmap={None: ns.MESSAGE_MODERATE},
                              by=f"{room}/{found.nick}")
    etree.SubElement(moderated, _OCCUPANT_ID, nsmap={None: ns.OCCUPANT_ID}, id=found.occupant_id)
    return moderated


def retraction(room: str, uid: str, moderated: etree._Element, reason: str | None) -> etree._Element:
    """XEP-0425 §4: what the room broadcasts — a XEP-0424 <retract id=stanza-id/> from the room."""
    msg = make("message", from_=room, type_="groupchat", id_=secrets.token_urlsafe(12))
    retract = etree.SubElement(msg, ns.q(ns.MESSAGE_RETRACT, "retract"), nsmap={None: ns.MESSAGE_RETRACT},
                               id=uid)
    retract.append(copy.deepcopy(moderated))
    if reason:
        etree.SubElement(retract, ns.q(ns.MESSAGE_RETRACT, "reason")).text = reason
    return msg


def tombstone(xml: str, moderated: etree._Element, reason: str | None) -> etree._Element:
    """XEP-0425 §5 / XEP-0424 §5.1: the archived message keeps its envelope, its stanza-id and
    occupant-id, and carries <retracted stamp/> instead of its content."""
    original = etree.fromstring(xml, _PARSER)
    for child in list(original):
        if not isinstance(child.tag, str) or child.tag not in _KEPT_IN_TOMBSTONE:
            original.remove(child)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    retracted = etree.SubElement(original, ns.q(ns.MESSAGE_RETRACT, "retracted"),
                                 nsmap={None: ns.MESSAGE_RETRACT}, stamp=stamp)
    retracted.append(copy.deepcopy(moderated))
    if reason:
        etree.SubElement(retracted, ns.q(ns.MESSAGE_RETRACT, "reason")).text = reason
    return original


def attach(server: "Server", archive: "Archive", module: "Module") -> None:
    """Room archives: the write side on the server's bus, the IQs on every MUC host (those
    there now and those `host/added` brings)."""
    rooms = RoomArchive(archive)
    module.hook("muc/archive", rooms.message)

    def serve(host: "Host") -> None:
        if host.service != "muc" or any(m.name == "muc-archive" for m in host.modules):
            return None
        mam = host.module("muc-archive", xep="XEP-0313", title="Message Archive Management (room archives)",
                          version="1.1.3", status="partial",
                          notes="groupchat messages with a body; subject changes are not archived")
        mam.iq("set", ns.MAM, "query", lambda s: rooms.query(host, s), scope="bare")
        mam.iq("get", ns.MAM, "query", lambda s: rooms.form(host, s), scope="bare")
        mam.iq("get", ns.MAM, "metadata", lambda s: rooms.metadata(host, s), scope="bare")
        mam.hook("disco/info/bare", lambda s, q: rooms.disco(host, s, q), DEFAULT - 1)
        moderation = host.module("message-moderate", xep="XEP-0425", title="Message Moderation",
                                 version=MODERATE_VERSION, status="complete",
                                 notes="retraction (XEP-0424) of archived room messages")
        moderation.iq("set", ns.MESSAGE_MODERATE, "moderate", lambda s: rooms.moderate(host, s), scope="bare")
        return None

    for host in server.hosts.components(service="muc"):
        serve(host)
    module.hook("host/added", serve)
