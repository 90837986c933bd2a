"""Multi-User Chat rooms (XEP-0045) for operators: list, describe, create, destroy, set an
affiliation (ejabberd's muc_online_rooms, get_room_options, create_room, destroy_room,
set_room_affiliation). Live: they act on the running MUC service, so occupants see them."""

from __future__ import annotations

from typing import Any

from commands.builtin._common import check_hosted_domain
from commands.registry import Arg, Command, CommandError, Context
from muc import operations
from muc.engine.roles import AFFILIATIONS, MucError
from xmppcore.jid import JID

_ERRORS = {"item-not-found": "not-found", "conflict": "conflict", "bad-request": "bad-request"}
# Argument names follow the registry's habits (jid, user): `jid` is the room's JID here.
ROOM = Arg("jid", "jid", label="Room", help="room@conference.example.org")


async def _run(coro: Any) -> Any:
    try:
        return await coro
    except MucError as err:
        raise CommandError(_ERRORS.get(err.condition, "bad-request"), err.text or err.condition) from None


async def list_rooms(ctx: Context, domain: str | None) -> list[dict[str, Any]]:
    if domain is not None:
        check_hosted_domain(domain)
    return await operations.list_rooms(ctx.server, domain)


async def room_info(ctx: Context, jid: JID) -> dict[str, Any]:
    return await _run(operations.room_info(ctx.server, jid))


async def create_room(ctx: Context, jid: JID, user: JID, name: str | None, persistent: bool) -> dict[str, Any]:
    return await _run(operations.create_room(ctx.server, jid, user, persistent=persistent, name=name or ""))


async def destroy_room(ctx: Context, jid: JID, reason: str | None, alternate: JID | None) -> None:
    await _run(operations.destroy_room(ctx.server, jid, reason or "", str(alternate) if alternate else ""))


async def set_room_affiliation(ctx: Context, jid: JID, user: JID, affiliation: str, reason: str | None) -> None:
    await _run(operations.set_affiliation(ctx.server, jid, user, affiliation, reason or ""))


COMMANDS = (
    Command("list_rooms", "List the chat rooms (XEP-0045) with their occupant counts.",
            (Arg("domain", "domain", label="Domain", required=False, help="Only the rooms of this domain."),),
            "table", "server_admin", list_rooms, category="muc", live=True, read_only=True,
            columns=("jid", "name", "occupants", "persistent", "public")),
    Command("room_info", "Describe a chat room: configuration, occupants, affiliations.", (ROOM,),
            "dict", "server_admin", room_info, category="muc", live=True, read_only=True),
    Command("create_room", "Create a configured chat room owned by a user.",
            (ROOM, Arg("user", "jid", label="Owner"), Arg("name", "string", label="Name", required=False),
             Arg("persistent", "bool", label="Persistent", required=False, default=True)),
            "dict", "server_admin", create_room, category="muc", live=True),
    Command("destroy_room", "Destroy a chat room; its occupants are told, with a reason and a new venue.",
            (ROOM, Arg("reason", "string", label="Reason", required=False),
             Arg("alternate", "jid", label="Alternate venue", required=False)),
            "none", "server_admin", destroy_room, category="muc", live=True),
    Command("set_room_affiliation", "Make a user owner, admin, member or outcast of a room (or none).",
            (ROOM, Arg("user", "jid", label="User"),
             Arg("affiliation", "list-single", label="Affiliation", choices=AFFILIATIONS, required=False,
                 default="member"),
             Arg("reason", "string", label="Reason", required=False)),
            "none", "server_admin", set_room_affiliation, category="muc", live=True),
)
