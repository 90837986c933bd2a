"""XEP-0045 §8-§10 on the wire: kick, ban, roles and affiliation lists, members-only,
voice requests, invitations (mediated and XEP-0249), destruction, registration,
XEP-0410 self-ping and XEP-0421 occupant ids."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.muc.helpers import (ADMIN, CLIENT, DATA, OCC, OWNER, USER, codes, error_condition, groupchat,
                               instant_room, iq, item, join, next_groupchat, presence_from, q, take, user)

ROOM = "lobby@conference.localhost"
REGISTER = "jabber:iq:register"
PING = "urn:xmpp:ping"


def admin_item(attrs: str, reason: str = "") -> str:
    inner = f"<reason>{reason}</reason>" if reason else ""
    return f"<query xmlns='{ADMIN}'><item {attrs}>{inner}</item></query>"


async def room_with(xmpp, *names: str, config: dict[str, str] | None = None):
    alice = await user(xmpp, "alice")
    await instant_room(alice, ROOM, "Alice", config)
    others = []
    for name in names:
        client = await user(xmpp, name)
        await join(client, ROOM, name.capitalize())
        await take(alice.presences, presence_from(f"{ROOM}/{name.capitalize()}"))
        others.append(client)
    return alice, others


async def test_kick_and_ban_tell_everyone_why(xmpp) -> None:
    alice, (bob, carol) = await room_with(xmpp, "bob", "carol")
    kicked = await iq(alice, "set", ROOM, admin_item("nick='Bob' role='none'", "spam"))
    assert kicked.get("type") == "result"
    own = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(own) == {"110", "307"}
    assert item(own).find(q(USER, "actor")).get("nick") == "Alice"
    assert item(own).findtext(q(USER, "reason")) == "spam"
    seen = await take(carol.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    assert codes(seen) == {"307"} and item(seen).get("role") == "none"
    refused = await iq(carol, "set", ROOM, admin_item("nick='Alice' role='none'"))
    assert error_condition(refused) == "forbidden"
    banned = await iq(alice, "set", ROOM, admin_item(f"jid='{carol.boundjid.bare}' affiliation='outcast'", "bye"))
    assert banned.get("type") == "result"
    gone = await take(carol.presences, presence_from(f"{ROOM}/Carol", "unavailable"))
    assert codes(gone) == {"110", "301"} and item(gone).get("affiliation") == "outcast"
    outcasts = await iq(alice, "get", ROOM, admin_item("affiliation='outcast'"))
    assert [i.get("jid") for i in outcasts.iter(q(ADMIN, "item"))] == [str(carol.boundjid.bare)]


async def test_moderators_cannot_kick_admins_and_owners_keep_one_owner(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    made = await iq(alice, "set", ROOM, admin_item(f"jid='{bob.boundjid.bare}' affiliation='admin'"))
    assert made.get("type") == "result"
    promoted = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bob" and "110" in codes(p))
    assert item(promoted).get("affiliation") == "admin" and item(promoted).get("role") == "moderator"
    assert error_condition(await iq(bob, "set", ROOM, admin_item("nick='Alice' role='none'"))) == "not-allowed"
    assert error_condition(await iq(bob, "set", ROOM, admin_item(
        f"jid='{alice.boundjid.bare}' affiliation='none'"))) == "not-allowed"
    assert error_condition(await iq(alice, "set", ROOM, admin_item(
        f"jid='{alice.boundjid.bare}' affiliation='admin'"))) == "conflict"
    admins = await iq(bob, "get", ROOM, admin_item("affiliation='admin'"))
    assert [i.get("jid") for i in admins.iter(q(ADMIN, "item"))] == [str(bob.boundjid.bare)]
    moderators = await iq(bob, "get", ROOM, admin_item("role='moderator'"))
    assert {i.get("nick") for i in moderators.iter(q(ADMIN, "item"))} == {"Alice", "Bob"}


async def test_members_only_room_removes_non_members(xmpp) -> None:
    alice, (bob, carol) = await room_with(xmpp, "bob", "carol")
    member = await iq(alice, "set", ROOM, admin_item(f"jid='{bob.boundjid.bare}' affiliation='member'"))
    assert member.get("type") == "result"
    form = (f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'>"
            "<field var='muc#roomconfig_membersonly'><value>1</value></field></x></query>")
    assert (await iq(alice, "set", ROOM, form)).get("type") == "result"
    out = await take(carol.presences, presence_from(f"{ROOM}/Carol", "unavailable"))
    assert codes(out) == {"110", "322"}
    demoted = await iq(alice, "set", ROOM, admin_item(f"jid='{bob.boundjid.bare}' affiliation='none'"))
    assert demoted.get("type") == "result"
    assert codes(await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))) == {"110", "321"}
    members = await iq(alice, "get", ROOM, admin_item("affiliation='member'"))
    assert list(members.iter(q(ADMIN, "item"))) == []


async def test_voice_requests_reach_moderators(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob", config={"muc#roomconfig_moderatedroom": "1"})
    bob.send_raw(f"<message to='{ROOM}'><x xmlns='{DATA}' type='submit'>"
                 "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>"
                 "<field var='muc#role'><value>participant</value></field></x></message>")
    request = await take(alice.messages, lambda m: m.find(q(DATA, "x")) is not None)
    fields = {f.get("var"): f.findtext(q(DATA, "value")) for f in request.iter(q(DATA, "field"))}
    assert request.get("from") == ROOM and fields["muc#roomnick"] == "Bob"
    assert fields["FORM_TYPE"] == "http://jabber.org/protocol/muc#request" and "muc#jid" not in fields


async def test_mediated_invitation_and_decline(xmpp) -> None:
    alice, () = await room_with(xmpp, config={"muc#roomconfig_passwordprotectedroom": "1",
                                              "muc#roomconfig_roomsecret": "pw"})
    dave = await user(xmpp, "dave")
    alice.send_raw(f"<message to='{ROOM}'><x xmlns='{USER}'><invite to='{dave.boundjid.bare}'>"
                   "<reason>join us</reason></invite></x></message>")
    invite = await take(dave.messages, lambda m: m.find(q(USER, "x")) is not None)
    assert invite.get("from") == ROOM
    inv = invite.find(f"{q(USER, 'x')}/{q(USER, 'invite')}")
    assert inv.get("from") == f"{ROOM}/Alice" and inv.findtext(q(USER, "reason")) == "join us"
    assert invite.findtext(f"{q(USER, 'x')}/{q(USER, 'password')}") == "pw"
    dave.send_raw(f"<message to='{ROOM}'><x xmlns='{USER}'><decline to='{alice.boundjid.bare}'>"
                  "<reason>busy</reason></decline></x></message>")
    decline = await take(alice.messages, lambda m: m.find(f"{q(USER, 'x')}/{q(USER, 'decline')}") is not None)
    dec = decline.find(f"{q(USER, 'x')}/{q(USER, 'decline')}")
    assert dec.get("from") == str(dave.boundjid.bare) and dec.findtext(q(USER, "reason")) == "busy"
    outsider = await user(xmpp, "eve")
    outsider.send_raw(f"<message to='{ROOM}'><x xmlns='{USER}'><invite to='{dave.boundjid.bare}'/></x></message>")
    assert error_condition(await take(outsider.messages, lambda m: m.get("type") == "error")) == "not-acceptable"


async def test_direct_invitations_pass_between_users(xmpp) -> None:
    alice, () = await room_with(xmpp)
    dave = await user(xmpp, "dave")
    alice.send_raw(f"<message to='{dave.boundjid.bare}'><x xmlns='jabber:x:conference' jid='{ROOM}' "
                   "reason='come'/></message>")
    direct = await take(dave.messages, lambda m: m.find("{jabber:x:conference}x") is not None)
    assert direct.find("{jabber:x:conference}x").get("jid") == ROOM
    features = await iq(alice, "get", "conference.localhost",
                        "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert "jabber:x:conference" in {f.get("var") for f in features.iter(
        "{http://jabber.org/protocol/disco#info}feature")}


async def test_destroying_a_room_sends_everyone_away(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    refused = await iq(bob, "set", ROOM, f"<query xmlns='{OWNER}'><destroy/></query>")
    assert error_condition(refused) == "forbidden"
    done = await iq(alice, "set", ROOM, f"<query xmlns='{OWNER}'><destroy jid='new@conference.localhost'>"
                    "<reason>moved</reason></destroy></query>")
    assert done.get("type") == "result"
    gone = await take(bob.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    destroy = gone.find(f"{q(USER, 'x')}/{q(USER, 'destroy')}")
    assert destroy.get("jid") == "new@conference.localhost" and destroy.findtext(q(USER, "reason")) == "moved"
    again = await join(bob, ROOM, "Bob")
    assert "201" in codes(again)  # the room was gone: Bob created a new one


async def test_registration_reserves_a_nick(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    form = await iq(bob, "get", ROOM, f"<query xmlns='{REGISTER}'/>")
    assert "muc#register_roomnick" in {f.get("var") for f in form.iter(q(DATA, "field"))}
    submit = (f"<query xmlns='{REGISTER}'><x xmlns='{DATA}' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>"
              "<field var='muc#register_roomnick'><value>Bobby</value></field></x></query>")
    assert (await iq(bob, "set", ROOM, submit)).get("type") == "result"
    registered = await iq(bob, "get", ROOM, f"<query xmlns='{REGISTER}'/>")
    assert registered.find(f"{q(REGISTER, 'query')}/{q(REGISTER, 'registered')}") is not None
    assert registered.findtext(f"{q(REGISTER, 'query')}/{q(REGISTER, 'username')}") == "Bobby"
    members = await iq(alice, "get", ROOM, admin_item("affiliation='member'"))
    assert [(i.get("jid"), i.get("nick")) for i in members.iter(q(ADMIN, "item"))] == [
        (str(bob.boundjid.bare), "Bobby")]
    eve = await user(xmpp, "eve")
    eve.send_raw(f"<presence to='{ROOM}/Bobby'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    assert error_condition(await take(eve.presences, presence_from(f"{ROOM}/Bobby", "error"))) == "conflict"


async def test_self_ping_and_occupant_ids(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    pong = await iq(bob, "get", f"{ROOM}/Bob", f"<ping xmlns='{PING}'/>")
    assert pong.get("type") == "result" and pong.get("from") == f"{ROOM}/Bob"
    eve = await user(xmpp, "eve")
    assert error_condition(await iq(eve, "get", f"{ROOM}/Bob", f"<ping xmlns='{PING}'/>")) == "not-acceptable"
    await groupchat(bob, ROOM, "one")
    first = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "one")
    bob.send_raw(f"<presence to='{ROOM}/Robert'/>")
    await take(alice.presences, presence_from(f"{ROOM}/Robert"))
    bob.send_raw(f"<message to='{ROOM}' type='groupchat'><body>two</body>"
                 f"<occupant-id xmlns='{OCC}' id='forged'/></message>")
    second = await next_groupchat(alice, lambda m: m.findtext(q(CLIENT, "body")) == "two")
    ids = [m.findall(q(OCC, "occupant-id")) for m in (first, second)]
    assert len(ids[1]) == 1 and ids[0][0].get("id") == ids[1][0].get("id") != "forged"


async def test_a_moderator_approves_a_voice_request(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob", config={"muc#roomconfig_moderatedroom": "1"})
    bob.send_raw(f"<message to='{ROOM}'><x xmlns='{DATA}' type='submit'>"
                 "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>"
                 "<field var='muc#role'><value>participant</value></field></x></message>")
    await take(alice.messages, lambda m: m.find(q(DATA, "x")) is not None)
    alice.send_raw(f"<message to='{ROOM}'><x xmlns='{DATA}' type='submit'>"
                   "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>"
                   "<field var='muc#role'><value>participant</value></field>"
                   "<field var='muc#roomnick'><value>Bob</value></field>"
                   "<field var='muc#request_allow'><value>true</value></field></x></message>")
    voiced = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bob" and "110" in codes(p))
    assert item(voiced).get("role") == "participant"


async def test_a_registered_user_enters_under_the_reserved_nick(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    submit = (f"<query xmlns='{REGISTER}'><x xmlns='{DATA}' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>"
              "<field var='muc#register_roomnick'><value>Bobby</value></field></x></query>")
    assert (await iq(bob, "set", ROOM, submit)).get("type") == "result"
    bob.send_raw(f"<presence to='{ROOM}/Bob' type='unavailable'/>")
    await take(alice.presences, presence_from(f"{ROOM}/Bob", "unavailable"))
    bob.send_raw(f"<presence to='{ROOM}/Whatever'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    me = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bobby" and "110" in codes(p))
    assert codes(me) == {"110", "210"} and item(me).get("affiliation") == "member"


async def test_iqs_to_occupants_are_relayed_without_revealing_jids(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")
    asked = []

    def answer_version(iq) -> None:
        asked.append(iq.xml)
        reply = iq.reply()
        reply.append(ET.fromstring("<query xmlns='jabber:iq:version'><name>bobclient</name></query>"))
        reply.send()

    bob.register_handler(Callback("version", MatchXPath("{jabber:client}iq/{jabber:iq:version}query"),
                                  answer_version))
    reply = await iq(alice, "get", f"{ROOM}/Bob", "<query xmlns='jabber:iq:version'/>")
    assert reply.get("type") == "result" and reply.get("from") == f"{ROOM}/Bob"
    assert reply.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "bobclient"
    assert asked[0].get("from") == f"{ROOM}/Alice"
    missing = await iq(alice, "get", f"{ROOM}/Nobody", "<query xmlns='jabber:iq:version'/>")
    assert error_condition(missing) == "item-not-found"
    both = await iq(alice, "set", ROOM, admin_item("nick='Bob' role='visitor' affiliation='member'"))
    assert error_condition(both) == "bad-request"


async def test_the_configuration_form_carries_the_full_admin_list(xmpp) -> None:
    alice, (bob,) = await room_with(xmpp, "bob")

    def admins(*jids: str) -> str:
        values = "".join(f"<value>{j}</value>" for j in jids)
        return (f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'>"
                f"<field var='muc#roomconfig_roomadmins'>{values}</field></x></query>")

    assert (await iq(alice, "set", ROOM, admins("bob@localhost"))).get("type") == "result"
    made = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bob" and "110" in codes(p))
    assert item(made).get("affiliation") == "admin" and item(made).get("role") == "moderator"
    form = await iq(alice, "get", ROOM, f"<query xmlns='{OWNER}'/>")
    listed = [f for f in form.iter(q(DATA, "field")) if f.get("var") == "muc#roomconfig_roomadmins"][0]
    assert [v.text for v in listed.findall(q(DATA, "value"))] == ["bob@localhost"]
    assert (await iq(alice, "set", ROOM, admins())).get("type") == "result"
    unmade = await take(bob.presences, lambda p: p.get("from") == f"{ROOM}/Bob" and "110" in codes(p))
    assert item(unmade).get("affiliation") == "none" and item(unmade).get("role") == "participant"
    no_owner = (f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'>"
                "<field var='muc#roomconfig_roomowners'/></x></query>")
    assert error_condition(await iq(alice, "set", ROOM, no_owner)) == "not-acceptable"


async def test_an_absent_user_hears_of_a_new_affiliation(xmpp) -> None:
    alice, () = await room_with(xmpp)
    dave = await user(xmpp, "dave")
    made = await iq(alice, "set", ROOM, admin_item("jid='dave@localhost' affiliation='member'"))
    assert made.get("type") == "result"
    notice = await take(dave.messages, lambda m: m.find(q(USER, "x")) is not None)
    assert notice.get("from") == ROOM and codes(notice) == {"101"}
    assert item(notice).get("affiliation") == "member"
