"""XEP-0045 stanza shapes: occupant presence with <x xmlns='…muc#user'/> (§7.2.3, §15.6),
status codes (§15.6.2), the room's messages, XEP-0203 delays, XEP-0421 occupant ids."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Iterable

from lxml import etree

from muc.engine.room import Occupant, Room
from xmppcore import ns
from xmppcore.stanza import make

# What a client's presence may carry into the room: everything but the join element and
# anything pretending to be the room's own annotations (§7.2.3; XEP-0421 §4 rule 3).
_DROPPED = frozenset({ns.q(ns.MUC, "x"), ns.q(ns.MUC_USER, "x"), ns.q(ns.OCCUPANT_ID, "occupant-id")})
_OCCUPANT_ID = ns.q(ns.OCCUPANT_ID, "occupant-id")
_STANZA_ID = ns.q(ns.STANZA_ID, "stanza-id")


def xep0082(moment: datetime) -> str:
    """XEP-0082 §3.2 DateTime in UTC (the XEP-0203 stamp)."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_xep0082(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def presence_payload(el: etree._Element) -> list[etree._Element]:
    """The children of a client's presence worth showing to the room (show, status, caps...)."""
    return [copy.deepcopy(child) for child in el if isinstance(child.tag, str) and child.tag not in _DROPPED]


def occupant_presence(room: Room, occupant: Occupant, *, with_jid: bool, codes: Iterable[str] = (),
                      unavailable: bool = False, occupant_id: str = "", nick: str | None = None,
                      actor: str | None = None, reason: str | None = None,
                      full: str | None = None, from_nick: str | None = None,
                      role: str | None = None) -> etree._Element:
    """The presence of `occupant` as the room shows it (from room/nick)."""
    el = make("presence", from_=f"{room.jid}/{from_nick or occupant.nick}",
              type_="unavailable" if unavailable else None)
    if not unavailable and occupant.presence is not None:
        for child in occupant.presence:
            el.append(copy.deepcopy(child))
    x = etree.SubElement(el, ns.q(ns.MUC_USER, "x"), nsmap={None: ns.MUC_USER})
    item = etree.SubElement(x, ns.q(ns.MUC_USER, "item"),
                            affiliation=room.affiliation(occupant.bare), role=role or occupant.role)
    if with_jid:
        item.set("jid", full or next(iter(occupant.sessions), occupant.bare))
    if nick is not None:
        item.set("nick", nick)  # §7.6: the new nick in the unavailable presence with 303
    if actor is not None:
        etree.SubElement(item, ns.q(ns.MUC_USER, "actor"), nick=actor)
    if reason:
        etree.SubElement(item, ns.q(ns.MUC_USER, "reason")).text = reason
    for code in codes:
        etree.SubElement(x, ns.q(ns.MUC_USER, "status"), code=code)
    if occupant_id:
        etree.SubElement(el, ns.q(ns.OCCUPANT_ID, "occupant-id"), nsmap={None: ns.OCCUPANT_ID}, id=occupant_id)
    return el


def room_message(room: Room, nick: str, original: etree._Element, occupant_id: str,
                 type_: str = "groupchat") -> etree._Element:
    """A message as the room relays it: from room/nick, the sender's payload, its id kept."""
    el = make("message", from_=f"{room.jid}/{nick}" if nick else room.jid, type_=type_,
              id_=original.get("id"))
    for child in original:
        if isinstance(child.tag, str) and child.tag != _OCCUPANT_ID and not (
                child.tag == _STANZA_ID and child.get("by") == room.jid):  # XEP-0359 §5: not forged
            el.append(copy.deepcopy(child))
    if occupant_id:
        etree.SubElement(el, ns.q(ns.OCCUPANT_ID, "occupant-id"), nsmap={None: ns.OCCUPANT_ID}, id=occupant_id)
    return el


def with_delay(el: etree._Element, room_jid: str, stamp: datetime) -> etree._Element:
    """§7.2.15: history carries a XEP-0203 <delay/> whose 'from' is the room's JID."""
    delayed = copy.deepcopy(el)
    etree.SubElement(delayed, ns.q(ns.DELAY, "delay"), nsmap={None: ns.DELAY}, stamp=xep0082(stamp),
                     **{"from": room_jid})
    return delayed


def subject_message(room: Room) -> etree._Element:
    """§7.2.16: the subject (empty when none), from the nick who set it or the room."""
    el = make("message", type_="groupchat",
              from_=f"{room.jid}/{room.subject_nick}" if room.subject_nick else room.jid)
    etree.SubElement(el, ns.q(ns.CLIENT, "subject")).text = room.subject or None
    return el


def status_message(room: Room, codes: Iterable[str]) -> etree._Element:
    """§10.2.1: a configuration change announced with status codes."""
    el = make("message", type_="groupchat", from_=room.jid)
    x = etree.SubElement(el, ns.q(ns.MUC_USER, "x"), nsmap={None: ns.MUC_USER})
    for code in codes:
        etree.SubElement(x, ns.q(ns.MUC_USER, "status"), code=code)
    return el


def join_error(room_jid: str, nick: str, to: str, error: etree._Element) -> etree._Element:
    """§7.2.6-§7.2.11: a refused join: presence of type error with the <x/> of the request."""
    el = make("presence", type_="error", from_=f"{room_jid}/{nick}", to=to)
    etree.SubElement(el, ns.q(ns.MUC, "x"), nsmap={None: ns.MUC})
    el.append(error)
    return el
