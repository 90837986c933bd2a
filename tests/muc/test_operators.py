"""Operator commands and REST for rooms (commands/builtin/muc.py): the running service acts,
so occupants see the result on the wire; persistent rooms are written through muc.actions."""

from __future__ import annotations

from muc.models import Affiliation, Room
from tests.commands.helpers import Api, make_token
from tests.muc.helpers import USER, codes, instant_room, item, join, presence_from, q, take, user
from xmppd.storage import db

ROOM = "ops@conference.localhost"


async def test_create_list_describe_and_destroy_a_room(xmpp) -> None:
    api = Api(await make_token())
    made = await api.post("/api/commands/create_room", {"jid": ROOM, "user": "alice@localhost", "name": "Ops"})
    assert made.status_code == 200, made.data
    assert made.data["result"]["owners"] == ["alice@localhost"] and not made.data["result"]["locked"]
    assert await db(lambda: Affiliation.objects.filter(room__jid=ROOM, affiliation="owner").count()) == 1
    again = await api.post("/api/commands/create_room", {"jid": ROOM, "user": "alice@localhost"})
    assert again.status_code == 409
    bob = await user(xmpp, "bob")
    joined = await join(bob, ROOM, "Bob")
    assert "201" not in codes(joined)
    rooms = await api.get("/api/commands/list_rooms")
    assert rooms.data["result"] == [{"jid": ROOM, "name": "Ops", "occupants": 1, "persistent": True,
                                     "public": True}]
    info = await api.get("/api/commands/room_info", jid=ROOM)
    assert info.data["result"]["occupants"] == 1 and info.data["result"]["name"] == "Ops"
    missing = await api.get("/api/commands/room_info", jid="nope@conference.localhost")
    assert missing.status_code == 404
    gone = await api.post("/api/commands/destroy_room", {"jid": ROOM, "reason": "closing"})
    assert gone.status_code in (200, 204), gone.data
    out = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert out.find(f"{q(USER, 'x')}/{q(USER, 'destroy')}").findtext(q(USER, "reason")) == "closing"
    assert await db(lambda: Room.objects.filter(jid=ROOM).count()) == 0


async def test_an_operator_ban_is_seen_by_the_occupants(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    api = Api(await make_token())
    r = await api.post("/api/commands/set_room_affiliation",
                       {"jid": ROOM, "user": "bob@localhost", "affiliation": "outcast", "reason": "rules"})
    assert r.status_code in (200, 204), r.data
    own = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(own) == {"110", "301"} and item(own).findtext(q(USER, "reason")) == "rules"
    seen = await take(alice.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(seen) == {"301"}
    bad = await api.post("/api/commands/set_room_affiliation",
                         {"jid": ROOM, "user": "bob@localhost", "affiliation": "king"})
    assert bad.status_code == 400
