"""XEP-0045 §6 discovery, §7.4-§7.5 messages, §8.1 subject, and configuration enforced."""

from __future__ import annotations

from tests.muc.helpers import (CLIENT, DATA, SERVICE, USER, codes, error_condition, groupchat, instant_room,
                               iq, join, next_groupchat, presence_from, q, take, user)
from tests.support.quiet import nothing_more

ROOM = "lobby@conference.localhost"
INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
RSM = "http://jabber.org/protocol/rsm"


def body_is(text: str):
    return lambda m: m.findtext(q(CLIENT, "body")) == text


async def test_private_messages_between_occupants(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    bob.send_raw(f"<message to='{ROOM}/Alice' type='chat' id='pm1'><body>psst</body></message>")
    pm = await take(alice.messages, body_is("psst"))
    assert pm.get("from") == f"{ROOM}/Bob" and pm.get("type") == "chat" and pm.get("id") == "pm1"
    assert pm.find(q(USER, "x")) is not None
    bob.send_raw(f"<message to='{ROOM}/Nobody' type='chat'><body>?</body></message>")
    error = await take(bob.messages, lambda m: m.get("type") == "error")
    assert error_condition(error) == "item-not-found"
    carol = await user(xmpp, "carol")
    carol.send_raw(f"<message to='{ROOM}/Alice' type='chat'><body>outsider</body></message>")
    assert error_condition(await take(carol.messages, lambda m: m.get("type") == "error")) == "not-acceptable"
    carol.send_raw(f"<message to='{ROOM}' type='groupchat'><body>outsider</body></message>")
    assert error_condition(await take(carol.messages, lambda m: m.get("type") == "error")) == "not-acceptable"


async def test_private_messages_can_be_turned_off(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_allowpm": "moderators"})
    await join(bob, ROOM, "Bob")
    bob.send_raw(f"<message to='{ROOM}/Alice' type='chat'><body>psst</body></message>")
    assert error_condition(await take(bob.messages, lambda m: m.get("type") == "error")) == "forbidden"
    alice.send_raw(f"<message to='{ROOM}/Bob' type='chat'><body>from a moderator</body></message>")
    await take(bob.messages, body_is("from a moderator"))


async def test_moderated_room_silences_visitors_until_voiced(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_moderatedroom": "1"})
    joined = await join(bob, ROOM, "Bob")
    assert joined.find(f"{q(USER, 'x')}/{q(USER, 'item')}").get("role") == "visitor"
    await groupchat(bob, ROOM, "may I?")
    assert error_condition(await take(bob.messages, lambda m: m.get("type") == "error")) == "forbidden"
    await nothing_more(alice, alice.messages, body_is("may I?"), after=(bob,))
    voice = await iq(alice, "set", ROOM, "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                     "<item nick='Bob' role='participant'><reason>go on</reason></item></query>")
    assert voice.get("type") == "result"
    voiced = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bob" and "110" in codes(p))
    assert voiced.find(f"{q(USER, 'x')}/{q(USER, 'item')}").get("role") == "participant"
    await groupchat(bob, ROOM, "thanks")
    await next_groupchat(alice, body_is("thanks"))


async def test_subject_changes_follow_the_configuration(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice")
    await join(bob, ROOM, "Bob")
    bob.send_raw(f"<message to='{ROOM}' type='groupchat'><subject>mine</subject></message>")
    assert error_condition(await take(bob.messages, lambda m: m.get("type") == "error")) == "forbidden"
    form = (f"<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='{DATA}' type='submit'>"
            "<field var='muc#roomconfig_changesubject'><value>1</value></field></x></query>")
    assert (await iq(alice, "set", ROOM, form)).get("type") == "result"
    change = await next_groupchat(bob, lambda m: m.find(q(USER, "x")) is not None)
    assert codes(change) == {"104"} and change.get("from") == ROOM
    bob.send_raw(f"<message to='{ROOM}' type='groupchat'><subject>mine</subject></message>")
    subject = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "subject")) == "mine")
    assert subject.get("from") == f"{ROOM}/Bob"


async def test_history_length_zero_keeps_nothing(xmpp) -> None:
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#maxhistoryfetch": "0"})
    await groupchat(alice, ROOM, "gone")
    await next_groupchat(alice, body_is("gone"))
    await join(bob, ROOM, "Bob")
    first = await next_groupchat(bob)
    assert first.find(q(CLIENT, "subject")) is not None  # straight to the subject


async def test_room_disco_info_has_features_and_roominfo(xmpp) -> None:
    alice = await user(xmpp, "alice")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_roomname": "The Lobby",
                                              "muc#roomconfig_roomdesc": "Chat here",
                                              "muc#roomconfig_moderatedroom": "1"})
    reply = await iq(alice, "get", ROOM, f"<query xmlns='{INFO}'/>")
    query = reply.find(q(INFO, "query"))
    identity = query.find(q(INFO, "identity"))
    assert (identity.get("category"), identity.get("type"), identity.get("name")) == ("conference", "text", "The Lobby")
    features = {f.get("var") for f in query.findall(q(INFO, "feature"))}
    assert {"http://jabber.org/protocol/muc", "muc_moderated", "muc_temporary", "muc_public", "muc_open",
            "muc_semianonymous", "muc_unsecured", "urn:xmpp:occupant-id:0"} <= features
    fields = {f.get("var"): f.findtext(q(DATA, "value")) for f in query.findall(f"{q(DATA, 'x')}/{q(DATA, 'field')}")}
    assert fields["FORM_TYPE"] == "http://jabber.org/protocol/muc#roominfo"
    assert fields["muc#roominfo_description"] == "Chat here" and fields["muc#roominfo_occupants"] == "1"
    missing = await iq(alice, "get", "nowhere@conference.localhost", f"<query xmlns='{INFO}'/>")
    assert error_condition(missing) == "item-not-found"
    service = await iq(alice, "get", SERVICE, f"<query xmlns='{INFO}'/>")
    ident = service.find(f"{q(INFO, 'query')}/{q(INFO, 'identity')}")
    assert (ident.get("category"), ident.get("type")) == ("conference", "text")
    domain = await iq(alice, "get", "localhost", f"<query xmlns='{ITEMS}'/>")
    assert SERVICE in {i.get("jid") for i in domain.iter(q(ITEMS, "item"))}


async def test_public_rooms_are_listed_and_paged(xmpp) -> None:
    alice = await user(xmpp, "alice")
    for n in range(5):
        await instant_room(alice, f"room{n}@conference.localhost", "Alice")
    await instant_room(alice, "hidden@conference.localhost", "Alice", {"muc#roomconfig_publicroom": "0"})
    await join(alice, "locked@conference.localhost", "Alice")  # not configured yet: not listed
    everything = await iq(alice, "get", SERVICE, f"<query xmlns='{ITEMS}'/>")
    jids = [i.get("jid") for i in everything.iter(q(ITEMS, "item"))]
    assert jids == [f"room{n}@conference.localhost" for n in range(5)]
    page = await iq(alice, "get", SERVICE, f"<query xmlns='{ITEMS}'><set xmlns='{RSM}'><max>2</max></set></query>")
    assert [i.get("jid") for i in page.iter(q(ITEMS, "item"))] == jids[:2]
    result_set = page.find(f"{q(ITEMS, 'query')}/{q(RSM, 'set')}")
    assert result_set.findtext(q(RSM, "count")) == "5" and result_set.findtext(q(RSM, "last")) == jids[1]
    after = await iq(alice, "get", SERVICE, f"<query xmlns='{ITEMS}'><set xmlns='{RSM}'><max>2</max>"
                     f"<after>{jids[1]}</after></set></query>")
    assert [i.get("jid") for i in after.iter(q(ITEMS, "item"))] == jids[2:4]


async def test_a_presence_to_the_bare_room_is_refused(xmpp) -> None:
    alice = await user(xmpp, "alice")
    alice.send_raw(f"<presence to='{ROOM}'/>")
    error = await take(alice.presences, presence_from(ROOM, "error"))
    assert error_condition(error) == "jid-malformed"


async def test_stanzas_for_rooms_that_do_not_exist_leave_nothing_behind(xmpp) -> None:
    from muc import operations

    alice = await user(xmpp, "alice")
    for n in range(3):
        alice.send_raw(f"<message to='ghost{n}@conference.localhost' type='groupchat'><body>x</body></message>")
        assert error_condition(await take(alice.messages, lambda m: m.get("type") == "error")) == "item-not-found"
    alice.send_raw("<presence to='ghost@conference.localhost/me' type='unavailable'/>")
    reply = await iq(alice, "set", "ghost@conference.localhost",
                     "<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='x' role='none'/></query>")
    assert error_condition(reply) == "item-not-found"
    service = operations.services(xmpp.server)[0]
    assert not service.locks and not service.rooms


async def test_logged_rooms_hand_their_messages_to_the_archive_event(xmpp) -> None:
    seen = []
    xmpp.server.hooks.add("muc/message", lambda room, el: seen.append((room, el)))
    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, ROOM, "Alice", {"muc#roomconfig_enablelogging": "1"})
    await join(bob, ROOM, "Bob")
    alice.send_raw(f"<message to='{ROOM}' type='groupchat'><subject>not archived</subject></message>")
    await groupchat(alice, ROOM, "archived")
    await next_groupchat(bob, body_is("archived"))
    assert len(seen) == 1
    room, el = seen[0]
    assert str(room) == ROOM and el.get("from") == f"{ROOM}/Alice" and el.get("to") is None
    assert el.findtext("{jabber:client}body") == "archived"
    unlogged = "quiet@conference.localhost"
    await instant_room(alice, unlogged, "Alice")
    await groupchat(alice, unlogged, "not archived")
    await next_groupchat(alice, body_is("not archived"))
    assert len(seen) == 1
