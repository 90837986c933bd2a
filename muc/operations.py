"""Operator operations on the live MUC service (operator commands, REST, the Django admin):
the same engine decisions and stanzas as the protocol, so occupants see the result on the
wire; persistence through `muc.actions`. Run on the server's event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from muc.engine.config import RoomConfig
from muc.engine.roles import AFFILIATIONS, OWNER, MucError
from muc.engine.room import Room
from muc.service import MucService
from xmppcore.jid import JID

if TYPE_CHECKING:
    from xmppd.server import Server

SERVICES: dict[tuple[int, str], MucService] = {}  # (id(server), component host) -> service


def register(service: MucService) -> None:
    SERVICES[id(service.server), service.host.name] = service


def unregister(server: "Server") -> None:
    for key in [k for k, s in SERVICES.items() if s.server is server]:
        del SERVICES[key]


def live_service(host: str) -> MucService | None:
    """The started service of this process for a MUC host (the Django admin's way in)."""
    for (_, name), service in list(SERVICES.items()):
        if name == host and service.loop is not None and service.loop.is_running():
            return service
    return None


def services(server: "Server") -> list[MucService]:
    return [s for (sid, _), s in SERVICES.items() if sid == id(server) and s.server is server]


def service_of(server: "Server", room: JID) -> MucService:
    service = SERVICES.get((id(server), room.domain))
    if service is None or service.server is not server or room.local is None or room.resource is not None:
        raise MucError("item-not-found", f"{room} is not a room of a MUC service here")
    return service


def describe(room: Room) -> dict[str, Any]:
    config = room.config
    return {"jid": room.jid, "name": config.name, "description": config.description,
            "persistent": config.persistent, "public": config.public, "members_only": config.members_only,
            "moderated": config.moderated, "password_protected": bool(config.password),
            "occupants": len(room.occupants), "subject": room.subject, "locked": room.locked,
            "owners": room.owners(), "admins": room.with_affiliation("admin"),
            "members": room.with_affiliation("member"), "outcasts": room.with_affiliation("outcast")}


async def list_rooms(server: "Server", domain: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for service in services(server):
        if domain is not None and service.host.parent != domain:
            continue
        for room in sorted(service.rooms.values(), key=lambda r: r.jid):
            rows.append({"jid": room.jid, "name": room.config.name, "occupants": len(room.occupants),
                         "persistent": room.config.persistent, "public": room.config.public})
    return rows


async def room_info(server: "Server", jid: JID) -> dict[str, Any]:
    service = service_of(server, jid)
    room = await service.room(str(jid))
    if room is None:
        raise MucError("item-not-found", f"no room {jid}")
    return describe(room)


async def create_room(server: "Server", jid: JID, owner: JID, *, persistent: bool = True,
                      name: str = "", public: bool = True) -> dict[str, Any]:
    """A configured (unlocked) room owned by `owner`."""
    service = service_of(server, jid)
    async with service.lock(str(jid)):
        if await service.room(str(jid)) is not None:
            raise MucError("conflict", f"{jid} exists")
        config = RoomConfig(**{**service.defaults, "persistent": persistent, "name": name, "public": public})
        room = Room(str(jid), config, affiliations={str(owner.bare): OWNER})
        service.rooms[room.jid] = room
        await service.save(room)
    return describe(room)


async def destroy_room(server: "Server", jid: JID, reason: str = "", alternate: str = "") -> None:
    """§10.9 on the operator's behalf: occupants get the <destroy/> presence."""
    service = service_of(server, jid)
    async with service.lock(str(jid)):
        room = await service.room(str(jid))
        if room is None:
            raise MucError("item-not-found", f"no room {jid}")
        await service.admin.destroy(room, alternate or None, reason or None)


async def set_affiliation(server: "Server", jid: JID, user: JID, affiliation: str, reason: str = "") -> None:
    """§9-§10 on the operator's behalf (the service is the actor): occupants hear of it."""
    if affiliation not in AFFILIATIONS:
        raise MucError("bad-request", f"unknown affiliation {affiliation}")
    service = service_of(server, jid)
    async with service.lock(str(jid)):
        room = await service.room(str(jid))
        if room is None:
            raise MucError("item-not-found", f"no room {jid}")
        await service.admin.set_affiliation(room, None, str(user.bare), affiliation, None, reason or None)


async def configure(server: "Server", jid: JID, changes: dict[str, Any]) -> dict[str, Any]:
    """A configuration change from an operator (the Django admin): announced like §10.2."""
    service = service_of(server, jid)
    async with service.lock(str(jid)):
        room = await service.room(str(jid))
        if room is None:
            raise MucError("item-not-found", f"no room {jid}")
        await service.admin.apply_config(room, RoomConfig.from_dict({**room.config.to_dict(), **changes}))
    return describe(room)
