"""XEP-0045 #service-shutdown-kick on the wire: when the server stops, every occupant gets its
own unavailable presence with status codes 110 and 332 before its stream ends."""

from __future__ import annotations

from typing import Any

from tests.muc.helpers import codes, instant_room, item, join, presence_from, take, user

ROOM = "bye@conference.localhost"


async def test_occupants_hear_332_when_the_server_stops(make_server: Any) -> None:
    srv = await make_server()
    alice = await user(srv, "alice")
    await instant_room(alice, ROOM, "Alice")
    bob = await user(srv, "bob")
    await join(bob, ROOM, "Bob")
    await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    await srv.runner.stop()
    for client, nick in ((alice, "Alice"), (bob, "Bob")):
        gone = await take(client.presences, presence_from(f"{ROOM}/{nick}", "unavailable"))
        assert codes(gone) == {"110", "332"}
        assert item(gone).get("role") == "none"
    # Only one's own presence: nobody is told of the others (they are all leaving).
    assert not [p for p in alice.presences.items if p.get("from") == f"{ROOM}/Bob"]
