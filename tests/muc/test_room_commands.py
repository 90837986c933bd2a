"""XEP-0045 rooms' own XEP-0050 commands on the wire: listed in the room's commands node for
owners only, destroy / subject / kick executed by an owner, <forbidden/> for everyone else."""

from __future__ import annotations

from typing import Any

from lxml import etree

from tests.commands.test_adhoc import CMD, ITEMS, cmd_of, error_of, execute, form_of, notes_of, send_iq
from tests.muc.helpers import (CLIENT, USER, codes, instant_room, item, join, presence_from, q, take, user)

ROOM = "ops@conference.localhost"
DESTROY = "http://jabber.org/protocol/muc#destroy"
SUBJECT = "http://jabber.org/protocol/muc#subject"
KICK = "http://jabber.org/protocol/muc#kick"


async def room_of_alice_with_bob(xmpp: Any) -> tuple[Any, Any]:
    alice = await user(xmpp, "alice")
    await instant_room(alice, ROOM, "Alice")
    bob = await user(xmpp, "bob")
    await join(bob, ROOM, "Bob")
    await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    return alice, bob


def listed(reply: etree._Element) -> list[tuple[str | None, str | None]]:
    assert reply.get("type") == "result", etree.tostring(reply)
    return [(i.get("jid"), i.get("node")) for i in reply.iter(f"{{{ITEMS}}}item")]


async def test_owners_see_the_room_commands_others_are_forbidden(xmpp: Any) -> None:
    alice, bob = await room_of_alice_with_bob(xmpp)
    query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"
    assert listed(await send_iq(alice, query, to=ROOM, type_="get")) == [
        (ROOM, DESTROY), (ROOM, SUBJECT), (ROOM, KICK)]
    assert listed(await send_iq(bob, query, to=ROOM, type_="get")) == []
    for node in (DESTROY, SUBJECT, KICK):
        assert error_of(await execute(bob, node, to=ROOM))[:2] == ("auth", "forbidden")
    missing = await execute(alice, DESTROY, to="nowhere@conference.localhost")
    assert error_of(missing)[1] == "service-unavailable"  # no commands at a room that does not exist


async def test_owner_sets_the_subject_by_command(xmpp: Any) -> None:
    alice, bob = await room_of_alice_with_bob(xmpp)
    first = cmd_of(await execute(alice, SUBJECT, to=ROOM))
    assert first.get("status") == "executing"
    assert [f.var for f in form_of(first).fields if f.var] == ["subject"]
    done = cmd_of(await execute(alice, SUBJECT, to=ROOM, sessionid=first.get("sessionid"),
                                submit={"subject": "Release day"}))
    assert done.get("status") == "completed" and notes_of(done) == [("info", "subject set")]
    seen = await take(bob.messages, lambda m: m.find(q(CLIENT, "subject")) is not None
                      and m.findtext(q(CLIENT, "subject")) == "Release day")
    assert seen.get("from") == ROOM and seen.get("type") == "groupchat"
    assert seen.find(q(CLIENT, "body")) is None


async def test_owner_kicks_an_occupant_by_command(xmpp: Any) -> None:
    alice, bob = await room_of_alice_with_bob(xmpp)
    first = cmd_of(await execute(alice, KICK, to=ROOM))
    nick_field = next(f for f in form_of(first).fields if f.var == "nick")
    assert sorted(o.value for o in nick_field.options) == ["Alice", "Bob"]
    refused = await execute(alice, KICK, to=ROOM, sessionid=first.get("sessionid"), submit={"nick": "Alice"})
    assert error_of(refused)[1] == "not-allowed"
    again = cmd_of(await execute(alice, KICK, to=ROOM))
    done = cmd_of(await execute(alice, KICK, to=ROOM, sessionid=again.get("sessionid"),
                                submit={"nick": "Bob", "reason": "flooding"}))
    assert done.get("status") == "completed"
    own = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(own) == {"110", "307"}
    assert item(own).find(q(USER, "actor")).get("nick") == "Alice"
    assert item(own).findtext(q(USER, "reason")) == "flooding"


async def test_owner_destroys_the_room_by_command(xmpp: Any) -> None:
    alice, bob = await room_of_alice_with_bob(xmpp)
    first = cmd_of(await execute(alice, DESTROY, to=ROOM))
    done = cmd_of(await execute(alice, DESTROY, to=ROOM, sessionid=first.get("sessionid"),
                                submit={"reason": "moved", "alternate": "new@conference.localhost"}))
    assert done.get("status") == "completed"
    gone = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    destroy = gone.find(f"{q(USER, 'x')}/{q(USER, 'destroy')}")
    assert destroy.get("jid") == "new@conference.localhost"
    assert destroy.findtext(q(USER, "reason")) == "moved"
    query = f"<query xmlns='{ITEMS}' node='{CMD}'/>"
    after = await send_iq(alice, query, to=ROOM, type_="get")
    assert after.get("type") == "error"  # the room is gone, and its commands with it
