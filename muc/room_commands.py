"""XEP-0045 §10 through XEP-0050: a room's owners get the room's own ad-hoc commands at the
room JID (destroy the room, set the subject, kick an occupant), as Prosody and ejabberd offer.

The ad-hoc machinery lives above this app (`commands.adhoc`), so the room answers the
`adhoc/provider` hook (target JID) -> provider of the server's bus with objects of the shape
`commands.adhoc.provider` documents (`RoomCommand` ~ `ProvidedCommand`, `Done` ~ its `Reply`).
The commands are listed in the room's disco#items node `http://jabber.org/protocol/commands`
for its owners only; anyone else executing one gets <forbidden/> (XEP-0050 §2.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

from lxml import etree

from muc.engine.roles import NONE, OWNER, MucError
from muc.engine.room import Room
from muc.presence import stanza_error
from xmppcore import forms, ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import make

if TYPE_CHECKING:
    from muc.service import MucService

PROVIDER_EVENT = "adhoc/provider"  # commands.adhoc.provider.PROVIDER_EVENT
NODE_DESTROY = "http://jabber.org/protocol/muc#destroy"
NODE_SUBJECT = "http://jabber.org/protocol/muc#subject"
NODE_KICK = "http://jabber.org/protocol/muc#kick"


@dataclass
class Done:
    """A completed command (the shape of `commands.adhoc.protocol.Reply`)."""

    status: str = "completed"
    notes: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RoomCommand:
    """The shape of `commands.adhoc.provider.ProvidedCommand`."""

    node: str
    name: str
    execute: Callable[[Any], Awaitable[Done]]
    stages: Any = ()
    instructions: str = ""
    form_type: str | None = None
    allowed: Callable[[JID, JID], bool] | None = None


class RoomCommands:
    """The provider of one MUC service's room commands."""

    def __init__(self, service: "MucService") -> None:
        self.service = service
        self._commands = (
            RoomCommand(NODE_DESTROY, "Destroy the room", self.destroy, stages=[[
                forms.Field("reason", "text-single", "Reason"),
                forms.Field("alternate", "jid-single", "Alternate venue")]],
                instructions="Occupants are told the room is destroyed (§10.9).", allowed=self.is_owner),
            RoomCommand(NODE_SUBJECT, "Set the subject", self.subject, stages=[[
                forms.Field("subject", "text-single", "Subject", required=True)]], allowed=self.is_owner),
            RoomCommand(NODE_KICK, "Kick an occupant", self.kick, stages=self._kick_stages,
                        allowed=self.is_owner),
        )

    def lookup(self, target: JID) -> "RoomCommands | None":
        """Hook adhoc/provider: this service's rooms (in memory: persistent ones are loaded at
        start) have commands."""
        if target.domain != self.service.host.name or target.local is None or target.resource is not None:
            return None
        return self if str(target) in self.service.rooms else None

    def commands(self, target: JID, requester: JID) -> Sequence[RoomCommand]:
        return self._commands

    def is_owner(self, requester: JID, target: JID) -> bool:
        room = self.service.rooms.get(str(target))
        return room is not None and not room.destroyed and room.affiliation(str(requester)) == OWNER

    # -- the commands ------------------------------------------------------------------------
    async def _room(self, request: Any) -> Room:
        room = await self.service.room(str(request.target))
        if room is None or room.destroyed:
            raise StanzaError("item-not-found", "no such room")
        if room.affiliation(str(request.requester)) != OWNER:  # asked again under the lock
            raise StanzaError("forbidden", "only owners may do that")
        return room

    async def destroy(self, request: Any) -> Done:
        async with self.service.lock(str(request.target)):
            room = await self._room(request)
            await self.service.admin.destroy(room, request.value("alternate") or None,
                                             request.value("reason") or None)
        return Done(notes=[("info", f"{room.jid} was destroyed")])

    async def subject(self, request: Any) -> Done:
        """§8.1: a subject from the room itself (no nick)."""
        text = request.value("subject") or ""
        async with self.service.lock(str(request.target)):
            room = await self._room(request)
            room.subject, room.subject_nick = text, ""
            el = make("message", type_="groupchat", from_=room.jid)
            etree.SubElement(el, ns.q(ns.CLIENT, "subject")).text = text
            await self.service.fan_out(room, lambda _v: 0, lambda _k: el)
            await self.service.save(room)
        return Done(notes=[("info", "subject set")])

    async def _kick_stages(self, request: Any) -> list[list[forms.Field]]:
        room = await self._room(request)
        options = [forms.Option(nick, nick) for nick in sorted(room.occupants)]
        return [[forms.Field("nick", "list-single", "Occupant", required=True, options=options),
                 forms.Field("reason", "text-single", "Reason")]]

    async def kick(self, request: Any) -> Done:
        """§8.2 on the owner's behalf: the kicked nick gets 307, the actor is the owner's nick."""
        nick = request.value("nick") or ""
        async with self.service.lock(str(request.target)):
            room = await self._room(request)
            target = room.occupants.get(nick)
            if target is None:
                raise StanzaError("item-not-found", "no such occupant")
            if room.affiliation(target.bare) == OWNER:
                raise StanzaError("not-allowed", "owners cannot be kicked")  # §8.2 / §5.2 table
            actor = next((o.nick for o in room.occupants.values() if o.bare == str(request.requester.bare)), None)
            try:
                await self.service.admin.set_role(room, None, nick, NONE, actor, request.value("reason") or None)
            except MucError as err:
                raise stanza_error(err) from None
        return Done(notes=[("info", f"{nick} was kicked")])


def attach(service: "MucService") -> RoomCommands:
    provider = RoomCommands(service)
    service.server.hooks.add(PROVIDER_EVENT, provider.lookup)
    return provider
