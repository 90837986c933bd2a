from __future__ import annotations

from tests.muc.helpers import (CLIENT, OCC, codes, groupchat, instant_room, item, join, next_groupchat,
                               presence_from, q, take, user)

ROOM = "lobby@conference.localhost"


async def test_two_occupants_talk(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    created = await instant_room(alice, ROOM, "Alice")
    assert item(created).get("affiliation") == "owner" and item(created).get("role") == "moderator"
    await join(bob, ROOM, "Bob")
    seen = await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    assert item(seen).get("role") == "participant" and item(seen).get("jid") == str(bob.boundjid)
    await groupchat(bob, ROOM, "hello")
    got = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "hello")
    assert got.get("from") == f"{ROOM}/Bob"
    assert got.find(q(OCC, "occupant-id")) is not None
    await next_groupchat(bob, lambda m: m.findtext(q(CLIENT, "body")) == "hello")
    assert codes(created) >= {"110", "201"}
