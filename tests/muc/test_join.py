"""XEP-0045 §7.1-§7.2, §7.6, §7.14, §10.1 on the wire: creating, entering, nick changes,
leaving, history and subject on join, and every refusal's condition."""

from __future__ import annotations

from tests.muc.helpers import (CLIENT, DATA, DELAY, MUC, OCC, OWNER, codes, error_condition, groupchat,
                               instant_room, iq, item, join, next_groupchat, presence_from, q, send_join,
                               take, user)
from tests.support.quiet import nothing_more

ROOM = "lobby@conference.localhost"
CONFIG_FIELDS = {"muc#roomconfig_roomname", "muc#roomconfig_roomdesc", "muc#roomconfig_lang",
                 "muc#roomconfig_enablelogging", "muc#roomconfig_changesubject", "muc#roomconfig_allowinvites",
                 "muc#roomconfig_allowpm", "muc#roomconfig_maxusers", "muc#roomconfig_presencebroadcast",
                 "muc#roomconfig_getmemberlist", "muc#roomconfig_publicroom", "muc#roomconfig_persistentroom",
                 "muc#roomconfig_moderatedroom", "muc#roomconfig_membersonly",
                 "muc#roomconfig_passwordprotectedroom", "muc#roomconfig_roomsecret", "muc#roomconfig_whois",
                 "muc#maxhistoryfetch", "muc#roomconfig_roomadmins", "muc#roomconfig_roomowners"}


async def join_error(client, room: str, nick: str, extra: str = "") -> str | None:
    send_join(client, room, nick, extra)
    error = await take(client.presences, presence_from(f"{room}/{nick}", "error"))
    assert error.find(q(MUC, "x")) is not None
    return error_condition(error)


async def test_a_new_room_is_locked_until_its_owner_configures_it(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    created = await join(alice, ROOM, "Alice")
    assert codes(created) == {"110", "201"}
    assert item(created).get("affiliation") == "owner" and item(created).get("role") == "moderator"
    subject = await next_groupchat(alice)  # §7.2.16: the (empty) subject ends the join
    assert subject.find(q(CLIENT, "subject")) is not None and not subject.findtext(q(CLIENT, "subject"))
    assert await join_error(bob, ROOM, "Bob") == "item-not-found"
    form = await iq(alice, "get", ROOM, f"<query xmlns='{OWNER}'/>")
    x = form.find(f"{q(OWNER, 'query')}/{q(DATA, 'x')}")
    assert x.get("type") == "form"
    assert {f.get("var") for f in x.findall(q(DATA, "field"))} >= CONFIG_FIELDS | {"FORM_TYPE"}
    refused = await iq(bob, "get", ROOM, f"<query xmlns='{OWNER}'/>")
    assert error_condition(refused) == "forbidden"
    done = await iq(alice, "set", ROOM, f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'/></query>")
    assert done.get("type") == "result"
    joined = await join(bob, ROOM, "Bob")
    assert codes(joined) == {"110"} and item(joined).get("jid") == str(bob.boundjid)  # its own
    assert item(joined).get("role") == "participant" and item(joined).get("affiliation") == "none"


async def test_cancelling_the_initial_form_destroys_the_room(xmpp) -> None:
    alice = await user(xmpp, "alice")
    await join(alice, ROOM, "Alice")
    await iq(alice, "set", ROOM, f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='cancel'/></query>")
    again = await join(alice, ROOM, "Alice")
    assert "201" in codes(again)  # a new room


async def test_occupants_see_each_other_with_jids_only_when_allowed(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    carol = await user(xmpp, "carol")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    to_alice = await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    assert item(to_alice).get("jid") == str(bob.boundjid)  # a moderator sees real JIDs
    assert to_alice.find(q(OCC, "occupant-id")) is not None
    send_join(carol, ROOM, "Carol")
    first = await take(carol.presences, lambda p: p.get("from", "").startswith(ROOM))
    second = await take(carol.presences, lambda p: p.get("from", "").startswith(ROOM))
    assert {first.get("from"), second.get("from")} == {f"{ROOM}/Alice", f"{ROOM}/Bob"}
    assert all("jid" not in item(p).attrib for p in (first, second))
    me = await take(carol.presences, lambda p: p.get("from") == f"{ROOM}/Carol")
    assert codes(me) == {"110"} and item(me).get("jid") == str(carol.boundjid)
    seen_by_bob = await take(bob.presences, presence_from(f"{ROOM}/Carol"))
    assert "jid" not in item(seen_by_bob).attrib and codes(seen_by_bob) == set()


async def test_non_anonymous_logged_room_says_so_on_join(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_whois": "anyone",
                                              "muc#roomconfig_enablelogging": "1"})
    joined = await join(bob, ROOM, "Bob")
    assert codes(joined) == {"110", "100", "170"}
    alice_seen = await take(bob.presences, presence_from(f"{ROOM}/Alice"))
    assert item(alice_seen).get("jid") == str(alice.boundjid)


async def test_nick_change_and_leaving(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    bob.send_raw(f"<presence to='{ROOM}/Robert'/>")
    gone = await take(alice.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(gone) == {"303"} and item(gone).get("nick") == "Robert"
    back = await take(alice.presences, presence_from(f"{ROOM}/Robert"))
    assert item(back).get("role") == "participant"
    own = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(own) == {"303", "110"}
    await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Robert" and "110" in codes(p))
    bob.send_raw(f"<presence to='{ROOM}/Robert'><x xmlns='{MUC}'/></presence>")  # an update: no 303
    bob.send_raw(f"<presence to='{ROOM}/Alice'/>")
    assert error_condition(await take(bob.presences, presence_from(f"{ROOM}/Alice", "error"))) == "conflict"
    bob.send_raw(f"<presence to='{ROOM}/Robert' type='unavailable'/>")
    left = await take(alice.presences, presence_from(f"{ROOM}/Robert", "unavailable"))
    assert item(left).get("role") == "none" and codes(left) == set()
    mine = await take(bob.presences, presence_from(f"{ROOM}/Robert", "unavailable"))
    assert codes(mine) == {"110"}


async def test_a_disconnected_occupant_leaves(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    bob.disconnect()
    left = await take(alice.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert item(left).get("role") == "none"


async def test_several_resources_share_one_nick(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob1 = await user(xmpp, "bob", "one")
    bob2 = await user(xmpp, "bob", "two", create=False)
    await instant_room(alice, ROOM, "Alice")
    await join(bob1, ROOM, "Bob")
    await take(alice.presences, presence_from(f"{ROOM}/Bob"))
    second = await join(bob2, ROOM, "Bob")
    assert item(second).get("role") == "participant"
    await groupchat(alice, ROOM, "to both")
    for bob in (bob1, bob2):
        await next_groupchat(bob, lambda m: m.findtext(q(CLIENT, "body")) == "to both")
    bob2.send_raw(f"<presence to='{ROOM}/Bob' type='unavailable'/>")
    assert codes(await take(bob2.presences, presence_from(f"{ROOM}/Bob", "unavailable"))) == {"110"}
    # Bob is still there through his first resource: nobody else hears him leave.
    await nothing_more(alice, alice.presences, lambda p: p.get("from") == f"{ROOM}/Bob", after=(bob2,))
    await groupchat(alice, ROOM, "still here?")
    await next_groupchat(bob1, lambda m: m.findtext(q(CLIENT, "body")) == "still here?")


async def test_history_on_join_with_delays_and_limits(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    for n in range(4):
        await groupchat(alice, ROOM, f"m{n}")
    for n in range(4):
        await next_groupchat(alice, lambda m, n=n: m.findtext(q(CLIENT, "body")) == f"m{n}")
    alice.send_raw(f"<message to='{ROOM}' type='groupchat'><subject>Topic</subject></message>")
    await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "subject")) == "Topic")
    await join(bob, ROOM, "Bob", "<history maxstanzas='2'/>")
    first = await next_groupchat(bob)
    second = await next_groupchat(bob)
    assert [first.findtext(q(CLIENT, "body")), second.findtext(q(CLIENT, "body"))] == ["m2", "m3"]
    delay = first.find(q(DELAY, "delay"))
    assert delay.get("from") == ROOM and delay.get("stamp").endswith("Z")
    assert first.get("from") == f"{ROOM}/Alice"
    subject = await next_groupchat(bob)
    assert subject.findtext(q(CLIENT, "subject")) == "Topic" and subject.get("from") == f"{ROOM}/Alice"
    carol = await user(xmpp, "carol")
    await join(carol, ROOM, "Carol", "<history maxchars='0'/>")
    only = await next_groupchat(carol)
    assert only.findtext(q(CLIENT, "subject")) == "Topic"


async def test_join_refusals(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_passwordprotectedroom": "1",
                                              "muc#roomconfig_roomsecret": "pw", "muc#roomconfig_maxusers": "2"})
    assert await join_error(bob, ROOM, "Alice") == "conflict"
    assert await join_error(bob, ROOM, "Bob") == "not-authorized"
    assert await join_error(bob, ROOM, "Bob", "<password>nope</password>") == "not-authorized"
    await join(bob, ROOM, "Bob", "<password>pw</password>")
    carol = await user(xmpp, "carol")
    assert await join_error(carol, ROOM, "Carol", "<password>pw</password>") == "service-unavailable"
    ban = await iq(alice, "set", ROOM, "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                   "<item affiliation='outcast' jid='dave@localhost'/></query>")
    assert ban.get("type") == "result"
    dave = await user(xmpp, "dave")
    assert await join_error(dave, ROOM, "Dave", "<password>pw</password>") == "forbidden"
    members = "club@conference.localhost"
    await instant_room(alice, members, "Alice", {"muc#roomconfig_membersonly": "1"})
    assert await join_error(carol, members, "Carol") == "registration-required"


async def test_an_occupant_whose_client_returns_an_error_is_removed(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    bob.send_raw(f"<message to='{ROOM}' type='error'><error type='cancel'>"
                 "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
    gone = await take(alice.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(gone) == {"333"} and item(gone).get("role") == "none"
