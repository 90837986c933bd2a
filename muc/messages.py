"""XEP-0045 §7.4 groupchat, §7.5 private messages, §8.1 subject, §7.8 mediated invitations
and declines, §8.6 voice requests; the `muc/message` event for the archive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from muc.engine.roles import MODERATOR, VISITOR, MucError
from muc.engine.room import Room
from muc.presence import Presences, stanza_error
from muc.stanzas import room_message
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.forms import find_form, parse_form
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, make

if TYPE_CHECKING:
    from muc.service import MucService

_BODY = ns.q(ns.CLIENT, "body")
_SUBJECT = ns.q(ns.CLIENT, "subject")
_X_USER = ns.q(ns.MUC_USER, "x")


class Messages:
    def __init__(self, service: "MucService", presences: Presences) -> None:
        self.service = service
        self.presences = presences

    async def to_room(self, stanza: Stanza) -> bool:
        """Hook message/bare: a message to room@service."""
        room_jid, full = str(stanza.to), str(stanza.from_)
        async with self.service.lock(room_jid):
            room = await self.service.existing_room(room_jid)
            if stanza.type == "error":
                await self._bounced(room, full)
                return True
            try:
                if stanza.type == "groupchat":
                    await self.groupchat(room, full, stanza.el)
                else:
                    await self.other(room, full, stanza.el)
            except MucError as err:
                raise stanza_error(err) from None
        return True

    async def groupchat(self, room: Room, full: str, el: etree._Element) -> None:
        occupant = room.check_groupchat(full)
        if not self.service.may_send(occupant):  # XMPP_MUC_MESSAGE_RATE, as Prosody's muc_limits
            raise StanzaError("resource-constraint", "you are sending messages too fast", "wait")
        subject = el.find(_SUBJECT)
        if subject is not None and el.find(_BODY) is None:  # §8.1: a subject change
            room.check_subject(occupant)
            room.subject, room.subject_nick = subject.text or "", occupant.nick
            await self.service.broadcast_message(room, occupant, el)
            await self.service.save(room)
            return
        logged = room.config.logging and el.find(_BODY) is not None
        relayed = await self.service.broadcast_message(room, occupant, el, full if logged else None)
        if el.find(_BODY) is not None:
            self.service.remember(room, occupant.nick, relayed)
            if room.config.logging:  # for the archive (XEP-0313 MUC archives)
                await self.service.server.hooks.fire_all("muc/message", JID.parse(room.jid), relayed)

    async def other(self, room: Room, full: str, el: etree._Element) -> None:
        x = el.find(_X_USER)
        if x is not None and x.find(ns.q(ns.MUC_USER, "invite")) is not None:
            await self.invite(room, full, x.find(ns.q(ns.MUC_USER, "invite")))
        elif x is not None and x.find(ns.q(ns.MUC_USER, "decline")) is not None:
            await self.decline(room, full, x.find(ns.q(ns.MUC_USER, "decline")))
        elif find_form(el, ns.MUC_REQUEST) is not None:
            await self.voice_request(room, full, el)
        else:
            raise MucError("bad-request", "send groupchat messages to the room")

    async def _bounced(self, room: Room, full: str) -> None:
        """An occupant's client answered the room with an error: it is gone (§ 333)."""
        if room.occupant_of(full) is not None:
            await self.presences.leave(room, full, codes=("333",))

    # -- §7.5: private messages -------------------------------------------------------------
    async def to_occupant(self, stanza: Stanza) -> bool:
        """Hook message/full: a message to room@service/nick."""
        room_jid, full = str(stanza.to.bare), str(stanza.from_)
        async with self.service.lock(room_jid):
            room = await self.service.existing_room(room_jid)
            if stanza.type == "error":
                await self._bounced(room, full)
                return True
            if stanza.type == "groupchat":  # §7.5: not to a nick
                raise StanzaError("bad-request", "groupchat messages go to the room")
            try:
                sender, target = room.check_private(full, stanza.to.resource)
            except MucError as err:
                raise stanza_error(err) from None
            el = room_message(room, sender.nick, stanza.el, self.service.occupant_id(room, sender.bare),
                              type_=stanza.type or "normal")
            if el.find(_X_USER) is None:  # §7.5: marked as coming through the room
                etree.SubElement(el, _X_USER, nsmap={None: ns.MUC_USER})
            for session in list(target.sessions):
                await self.service.deliver(el, session)
        return True

    # -- §7.8: mediated invitations --------------------------------------------------------
    async def invite(self, room: Room, full: str, invite: etree._Element) -> None:
        occupant = room.check_invite(full)
        invitee = _jid(invite.get("to"))
        if room.config.members_only and room.affiliation(str(invitee.bare)) == "none":
            if room.affiliation(full) not in ("owner", "admin"):
                raise MucError("forbidden", "only admins may invite to a members-only room")
            room.set_affiliation(None, str(invitee.bare), "member")  # §9.3 via §7.8.2
            await self.service.save_affiliation(room, str(invitee.bare), "member")
        el = make("message", from_=room.jid)
        x = etree.SubElement(el, _X_USER, nsmap={None: ns.MUC_USER})
        out = etree.SubElement(x, ns.q(ns.MUC_USER, "invite"),
                               **{"from": full if room.config.non_anonymous else f"{room.jid}/{occupant.nick}"})
        _copy_reason(invite, out)
        if room.config.password:
            etree.SubElement(x, ns.q(ns.MUC_USER, "password")).text = room.config.password
        await self.service.send(el, str(invitee))

    async def decline(self, room: Room, full: str, decline: etree._Element) -> None:
        """§7.8.2: the invitee declines; the room tells the inviter, from the room."""
        inviter = _jid(decline.get("to"))
        el = make("message", from_=room.jid)
        x = etree.SubElement(el, _X_USER, nsmap={None: ns.MUC_USER})
        out = etree.SubElement(x, ns.q(ns.MUC_USER, "decline"), **{"from": str(JID.parse(full).bare)})
        _copy_reason(decline, out)
        await self.service.send(el, str(inviter))

    # -- §8.6: voice requests ---------------------------------------------------------------
    async def voice_request(self, room: Room, full: str, el: etree._Element) -> None:
        occupant = room.occupant_of(full)
        form = parse_form(find_form(el, ns.MUC_REQUEST))
        values = form.values()
        if occupant is not None and occupant.role == MODERATOR and "muc#request_allow" in values:
            # §8.6: a moderator's approval (the submitted form) grants voice
            if (values["muc#request_allow"] or [""])[0] in ("1", "true"):
                nick = (values.get("muc#roomnick") or [""])[0]
                await self.service.admin.set_role(room, full, nick, "participant", occupant.nick, None)
            return
        if occupant is None or occupant.role != VISITOR:
            raise MucError("not-acceptable", "only visitors request voice")
        if (form.values().get("muc#role") or ["participant"])[0] != "participant":
            raise MucError("bad-request", "voice requests ask for the participant role")
        request = make("message", from_=room.jid)
        request.append(voice_form(room, occupant.nick, full))
        for session, moderator in room.sessions():
            if moderator.role == MODERATOR:
                await self.service.deliver(request, session)


def voice_form(room: Room, nick: str, full: str) -> etree._Element:
    """§8.6 example: the approval form a moderator receives."""
    from xmppcore.forms import Field, Form, build_form

    form = Form(type="form", title="Voice request")
    form.add(Field("FORM_TYPE", "hidden", values=[ns.MUC_REQUEST]))
    form.add(Field("muc#role", "list-single", label="Requested role", values=["participant"]))
    if room.config.non_anonymous:
        form.add(Field("muc#jid", "jid-single", label="User ID", values=[full]))
    form.add(Field("muc#roomnick", "text-single", label="Room Nickname", values=[nick]))
    form.add(Field("muc#request_allow", "boolean", label="Grant voice to this person?", values=["false"]))
    return build_form(form)


def _jid(value: str | None) -> JID:
    try:
        return JID.parse(value or "")
    except InvalidJID:
        raise MucError("jid-malformed", "a valid 'to' is needed") from None


def _copy_reason(source: etree._Element, target: etree._Element) -> None:
    reason = source.find(ns.q(ns.MUC_USER, "reason"))
    if reason is not None:
        etree.SubElement(target, ns.q(ns.MUC_USER, "reason")).text = reason.text
