"""XEP-0313 MUC room archives on the wire: the room stamps its <stanza-id/>, occupants query
the room's JID (paging, real JIDs only for those who may see them), access rules, disco."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.archive.wire import FORWARD, MAM, SID, bodies, fin, form, mam, room_with_bob, rsm, uids
from tests.muc.helpers import (ADMIN, CLIENT, USER, error_condition, groupchat, instant_room, iq, join,
                               next_groupchat, q, user)

ROOM = "logged@conference.localhost"
LOGGED = {"muc#roomconfig_enablelogging": "1"}
MODERATE = "urn:xmpp:message-moderate:1"
INFO = "http://jabber.org/protocol/disco#info"


def forwarded(result: ET.Element) -> ET.Element:
    return result.find(f"{q(MAM, 'result')}/{q(FORWARD, 'forwarded')}/{q(CLIENT, 'message')}")


def body_is(text: str):
    return lambda m: m.findtext(q(CLIENT, "body")) == text


async def logged_room(xmpp, config: dict[str, str] | None = None):
    return await room_with_bob(xmpp, ROOM, {**LOGGED, **(config or {})}, join_bob=False)


async def test_the_room_stamps_archives_and_serves_its_messages(xmpp) -> None:
    alice, bob = await logged_room(xmpp)
    await join(bob, ROOM, "Bob")
    alice.send_raw(f"<message to='{ROOM}' type='groupchat' id='m1'><body>one</body>"
                   f"<stanza-id xmlns='{SID}' by='{ROOM}' id='forged'/></message>")
    for text in ("two", "three"):
        await groupchat(alice, ROOM, text)
    got = [await next_groupchat(bob, body_is(text)) for text in ("one", "two", "three")]
    stamps = [m.findall(q(SID, "stanza-id")) for m in got]
    assert all(len(s) == 1 and s[0].get("by") == ROOM for s in stamps), [ET.tostring(m) for m in got]
    sent_ids = [s[0].get("id") for s in stamps]
    assert "forged" not in sent_ids and len(set(sent_ids)) == 3

    results, answer = await mam(bob, to=ROOM)
    assert answer.get("type") == "result" and answer.get("from") == ROOM
    assert bodies(results) == ["one", "two", "three"] and uids(results) == sent_ids
    assert fin(answer).get("complete") == "true"
    first = forwarded(results[0])
    assert results[0].get("from") == ROOM and first.get("from") == f"{ROOM}/Alice"
    assert first.get("type") == "groupchat" and first.find(q(USER, "x")) is None  # semi-anonymous
    # The owner is a moderator: the publisher's real JID is shown to her.
    results, answer = await mam(alice, to=ROOM, queryid="q2")
    item = forwarded(results[0]).find(f"{q(USER, 'x')}/{q(USER, 'item')}")
    assert item is not None and item.get("jid") == str(alice.boundjid)
    # Groupchat is in the room's archive, not in the occupants' own.
    own, _ = await mam(bob, queryid="q3")
    assert own == []


async def test_paging_and_filters_of_a_room_archive(xmpp) -> None:
    alice, bob = await logged_room(xmpp)
    await join(bob, ROOM, "Bob")
    for n in range(5):
        await groupchat(bob, ROOM, f"m{n}")
    await next_groupchat(alice, body_is("m4"))
    page, answer = await mam(alice, rsm(max_=2), to=ROOM)
    assert bodies(page) == ["m0", "m1"] and fin(answer).get("complete") == "false"
    last = fin(answer).find("{http://jabber.org/protocol/rsm}set/{http://jabber.org/protocol/rsm}last").text
    rest, answer = await mam(alice, rsm(max_=10, after=last), to=ROOM, queryid="q2")
    assert bodies(rest) == ["m2", "m3", "m4"] and fin(answer).get("complete") == "true"
    tail, _ = await mam(alice, rsm(max_=2, before=""), to=ROOM, queryid="q3")
    assert bodies(tail) == ["m3", "m4"]
    # The moderator may filter by publisher; a participant of a semi-anonymous room may not.
    mine, _ = await mam(alice, form(with_=str(bob.boundjid.bare)), to=ROOM, queryid="q4")
    assert len(mine) == 5
    _, refused = await mam(bob, form(with_=str(alice.boundjid.bare)), to=ROOM, queryid="q5")
    assert refused.get("type") == "error" and error_condition(refused) == "forbidden"
    meta = await iq(bob, "get", ROOM, f"<metadata xmlns='{MAM}'/>")
    assert meta.find(f"{q(MAM, 'metadata')}/{q(MAM, 'start')}").get("id") == uids(page)[0]
    asked = await iq(bob, "get", ROOM, f"<query xmlns='{MAM}'/>")
    assert asked.find(f"{q(MAM, 'query')}/{{jabber:x:data}}x") is not None


async def test_non_anonymous_rooms_show_real_jids_to_everyone(xmpp) -> None:
    alice, bob = await logged_room(xmpp, {"muc#roomconfig_whois": "anyone"})
    await join(bob, ROOM, "Bob")
    await groupchat(alice, ROOM, "hello")
    await next_groupchat(bob, body_is("hello"))
    results, _ = await mam(bob, to=ROOM)
    item = forwarded(results[0]).find(f"{q(USER, 'x')}/{q(USER, 'item')}")
    assert item is not None and item.get("jid") == str(alice.boundjid)


async def test_members_only_archives_are_for_members(xmpp) -> None:
    alice, bob = await logged_room(xmpp, {"muc#roomconfig_membersonly": "1"})
    carol = await user(xmpp, "carol")
    await groupchat(alice, ROOM, "members only")
    await next_groupchat(alice, body_is("members only"))
    _, refused = await mam(carol, to=ROOM)
    assert refused.get("type") == "error" and error_condition(refused) == "forbidden"
    assert (await iq(carol, "get", ROOM, f"<metadata xmlns='{MAM}'/>")).get("type") == "error"
    reply = await iq(alice, "set", ROOM, f"<query xmlns='{ADMIN}'><item affiliation='member' "
                     f"jid='{bob.boundjid.bare}'/></query>")
    assert reply.get("type") == "result"
    results, answer = await mam(bob, to=ROOM, queryid="q2")  # a member, not in the room
    assert answer.get("type") == "result" and bodies(results) == ["members only"]


async def test_rooms_without_an_archive(xmpp) -> None:
    alice = await user(xmpp, "alice")
    quiet = "quiet@conference.localhost"
    await instant_room(alice, quiet, "Alice")
    _, answer = await mam(alice, to=quiet)
    assert error_condition(answer) == "feature-not-implemented"
    _, answer = await mam(alice, to="nowhere@conference.localhost", queryid="q2")
    assert error_condition(answer) == "item-not-found"
    info = await iq(alice, "get", quiet, f"<query xmlns='{INFO}'/>")
    features = {f.get("var") for f in info.iter(q(INFO, "feature"))}
    assert MAM not in features and MODERATE not in features
    await instant_room(alice, ROOM, "Alice", LOGGED)
    info = await iq(alice, "get", ROOM, f"<query xmlns='{INFO}'/>")
    query = info.find(q(INFO, "query"))
    features = {f.get("var") for f in query.iter(q(INFO, "feature"))}
    assert {MAM, MODERATE} <= features and "http://jabber.org/protocol/muc" in features
    assert query[-1].tag == "{jabber:x:data}x"  # XEP-0128: the room info form stays last


async def test_a_slixmpp_client_reads_the_room_archive(xmpp) -> None:
    alice, bob = await logged_room(xmpp)
    await join(bob, ROOM, "Bob")
    await groupchat(alice, ROOM, "through the plugin")
    await next_groupchat(bob, body_is("through the plugin"))
    bob.register_plugin("xep_0313")
    found = [m async for m in bob.plugin["xep_0313"].iterate(jid=ROOM, total=10)]
    assert [m["mam_result"]["forwarded"]["stanza"]["body"] for m in found] == ["through the plugin"]
