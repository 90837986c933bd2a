"""XEP-0045 §10.1.3 / §10.2: persistent rooms — configuration, affiliations, registered nicks,
subject and history — survive a server restart; temporary rooms vanish with their last occupant."""

from __future__ import annotations

from muc.models import HistoryMessage, Room
from tests.muc.helpers import (ADMIN, CLIENT, DATA, DELAY, OWNER, codes, error_condition, groupchat,
                               instant_room, iq, join, next_groupchat, presence_from, q, take, user)
from tests.support.waiting import wait_for
from xmppd.storage import db

ROOM = "team@conference.localhost"
INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"


async def test_a_persistent_room_survives_a_restart(make_server) -> None:
    first = await make_server()
    alice = await user(first, "alice")
    await user(first, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_persistentroom": "1",
                                              "muc#roomconfig_roomname": "Team",
                                              "muc#roomconfig_membersonly": "1"})
    member = await iq(alice, "set", ROOM, f"<query xmlns='{ADMIN}'><item affiliation='member' "
                      "jid='bob@localhost'/></query>")
    assert member.get("type") == "result"
    alice.send_raw(f"<message to='{ROOM}' type='groupchat'><subject>Plans</subject></message>")
    await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "subject")) == "Plans")
    await groupchat(alice, ROOM, "remember me")
    await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "remember me")
    await first.runner.stop()  # flushes the history batch (server/stopping)
    assert await db(lambda: HistoryMessage.objects.filter(room__jid=ROOM).count()) == 1

    second = await make_server()
    bob = await user(second, "bob", create=False)
    info = await iq(bob, "get", ROOM, f"<query xmlns='{INFO}'/>")
    features = {f.get("var") for f in info.iter(q(INFO, "feature"))}
    assert {"muc_persistent", "muc_membersonly"} <= features
    assert info.find(f"{q(INFO, 'query')}/{q(INFO, 'identity')}").get("name") == "Team"
    listed = await iq(bob, "get", "conference.localhost", f"<query xmlns='{ITEMS}'/>")
    assert [i.get("jid") for i in listed.iter(q(ITEMS, "item"))] == [ROOM]
    joined = await join(bob, ROOM, "Bob")  # members-only: Bob's membership survived
    assert joined.find("{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}item") \
        .get("affiliation") == "member"
    history = await next_groupchat(bob)
    assert history.findtext(q(CLIENT, "body")) == "remember me" and history.find(q(DELAY, "delay")) is not None
    subject = await next_groupchat(bob)
    assert subject.findtext(q(CLIENT, "subject")) == "Plans"
    alice = await user(second, "alice", create=False)
    owner = await iq(alice, "get", ROOM, f"<query xmlns='{OWNER}'/>")
    assert owner.get("type") == "result"  # still its owner
    assert "201" not in codes(await join(alice, ROOM, "Alice"))


async def test_a_temporary_room_vanishes_with_its_last_occupant(xmpp) -> None:
    alice = await user(xmpp, "alice")
    await instant_room(alice, ROOM, "Alice")
    alice.send_raw(f"<presence to='{ROOM}/Alice' type='unavailable'/>")
    await take(alice.presences, presence_from(f"{ROOM}/Alice", "unavailable"))
    gone = await iq(alice, "get", ROOM, f"<query xmlns='{INFO}'/>")
    assert error_condition(gone) == "item-not-found"
    assert await db(lambda: Room.objects.count()) == 0


async def test_making_a_room_temporary_forgets_it(xmpp) -> None:
    alice = await user(xmpp, "alice")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_persistentroom": "1"})
    assert await db(lambda: Room.objects.filter(jid=ROOM).count()) == 1
    form = (f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'>"
            "<field var='muc#roomconfig_persistentroom'><value>0</value></field></x></query>")
    assert (await iq(alice, "set", ROOM, form)).get("type") == "result"
    await wait_for(lambda: db(lambda: not Room.objects.filter(jid=ROOM).exists()), what="the row deleted")
