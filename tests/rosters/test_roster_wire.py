"""RFC 6121 §2: roster get, set, remove, errors and versioning, on the wire."""

from __future__ import annotations

import asyncio

import pytest
from lxml import etree

from tests.rosters.helpers import (ROSTER, Raw, error_condition, expect, item_xml, login, nothing,
                                   presence_from, push_for, q, subscribe_in_db)

pytestmark = pytest.mark.django_db(transaction=True)


def is_push(el: etree._Element) -> bool:
    return el.tag == q("iq") and el.get("type") == "set" and el.find(q("query", ROSTER)) is not None


def reply_to(id_: str):
    return lambda el: el.tag == q("iq") and el.get("id") == id_


async def test_get_returns_items_with_names_groups_and_version(xmpp) -> None:
    await xmpp.add_user("alice")
    a = await login(xmpp, "alice")
    a.update_roster("nurse@example.org", name="Nurse", groups=["Servants", "Family"])
    await expect(a.pushes, push_for("nurse@example.org"))
    raw = await Raw.login(xmpp, "alice")
    raw.send("<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>")
    result = await raw.stanza(reply_to("g1"))
    assert result.get("type") == "result" and result.get("to") == raw.jid
    query = result.find(q("query", ROSTER))
    assert query.get("ver")  # §2.6: versioning is on
    [item] = query.findall(q("item", ROSTER))
    assert item.get("jid") == "nurse@example.org" and item.get("name") == "Nurse"
    assert item.get("subscription") == "none" and item.get("ask") is None
    assert [g.text for g in item.findall(q("group", ROSTER))] == ["Servants", "Family"]


async def test_set_answers_then_pushes_to_interested_resources_only(xmpp) -> None:
    await xmpp.add_user("alice")
    phone = await login(xmpp, "alice", "phone")  # requested the roster: interested
    quiet = await Raw.login(xmpp, "alice", "quiet")  # never asked for the roster
    raw = await Raw.login(xmpp, "alice", "laptop")
    raw.send("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>")
    await raw.stanza(reply_to("g"))
    raw.send("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>"
             "<item jid='Romeo@Example.NET' name='Romeo'><group>Friends</group></item></query></iq>")
    first = await raw.stanza()
    second = await raw.stanza()
    # §2.3.2: the result goes to the requester, and the push to every interested resource,
    # the requester included.
    assert first.get("id") == "s1" and first.get("type") == "result"
    assert is_push(second) and second.get("to") == raw.jid
    assert second.get("from") in (None, "alice@localhost")  # §2.1.6
    item = second.find(q("query", ROSTER)).find(q("item", ROSTER))
    assert item.get("jid") == "romeo@example.net"  # normalized (RFC 7622)
    assert item.get("subscription") == "none" and item.get("name") == "Romeo"
    push = await expect(phone.pushes, push_for("romeo@example.net"))
    assert push["roster"]["items"]["romeo@example.net"]["groups"] == ["Friends"]
    await quiet.no_stanza(is_push)


async def test_update_and_remove(xmpp) -> None:
    await xmpp.add_user("alice")
    a = await login(xmpp, "alice")
    a.update_roster("bob@example.org", name="Bob", groups=["A"])
    await expect(a.pushes, push_for("bob@example.org"))
    a.update_roster("bob@example.org", name="Robert", groups=["B", "C"])
    push = await expect(a.pushes, push_for("bob@example.org"))
    item = item_xml(push, "bob@example.org")
    assert item.get("name") == "Robert"
    assert [g.text for g in item] == ["B", "C"]
    a.del_roster_item("bob@example.org")
    push = await expect(a.pushes, push_for("bob@example.org"))
    assert item_xml(push, "bob@example.org").get("subscription") == "remove"
    result = await asyncio.wait_for(a.get_roster(), 5)
    assert "bob@example.org" not in result["roster"]["items"]


@pytest.mark.parametrize(("query", "condition"), [
    # §2.3.3: more than one item; a repeated group.
    ("<item jid='a@example.org'/><item jid='b@example.org'/>", "bad-request"),
    ("<item jid='a@example.org'><group>X</group><group>X</group></item>", "bad-request"),
    # §2.3.3: an empty group; a name over the server's limit.
    ("<item jid='a@example.org'><group></group></item>", "not-acceptable"),
    ("<item jid='a@example.org' name='" + "n" * 1025 + "'/>", "not-acceptable"),
    ("<item jid='a@example.org'><group>" + "g" * 1025 + "</group></item>", "not-acceptable"),
    ("<item jid='a@b@c'/>", "jid-malformed"),
    ("<item jid='a@example.org/res'/>", "bad-request"),
    ("", "bad-request"),
    # §2.5.3: removing an item that is not there.
    ("<item jid='nobody@example.org' subscription='remove'/>", "item-not-found"),
])
async def test_set_errors(xmpp, query: str, condition: str) -> None:
    await xmpp.add_user("alice")
    raw = await Raw.login(xmpp, "alice")
    raw.send(f"<iq type='set' id='bad'><query xmlns='jabber:iq:roster'>{query}</query></iq>")
    reply = await raw.stanza(reply_to("bad"))
    assert reply.get("type") == "error"
    assert error_condition(reply) == condition
    raw.send("<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>")
    roster = await raw.stanza(reply_to("g"))
    assert roster.find(q("query", ROSTER)).findall(q("item", ROSTER)) == []  # nothing was stored


async def test_another_users_roster_is_forbidden(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw = await Raw.login(xmpp, "alice")
    raw.send("<iq type='get' id='g' to='bob@localhost'><query xmlns='jabber:iq:roster'/></iq>")
    assert error_condition(await raw.stanza(reply_to("g"))) == "forbidden"
    raw.send("<iq type='set' id='s' to='bob@localhost'><query xmlns='jabber:iq:roster'>"
             "<item jid='eve@example.org'/></query></iq>")
    assert error_condition(await raw.stanza(reply_to("s"))) == "forbidden"
    # Addressed to the user's own bare JID, the same request is fine (RFC 6120 §10.3.3).
    raw.send("<iq type='get' id='own' to='alice@localhost'><query xmlns='jabber:iq:roster'/></iq>")
    assert (await raw.stanza(reply_to("own"))).get("type") == "result"


async def test_versioning(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await Raw.login(xmpp, "alice")
    # §2.6.1: the stream feature, after authentication only.
    assert b"<ver xmlns=\"urn:xmpp:features:rosterver\"/>" in raw.features
    raw.send("<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>")
    ver1 = (await raw.stanza(reply_to("g1"))).find(q("query", ROSTER)).get("ver")
    raw.send("<iq type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='c@example.org'/></query></iq>")
    push = await raw.stanza(is_push)
    ver2 = push.find(q("query", ROSTER)).get("ver")
    assert ver2 and ver2 != ver1
    # §2.6.3: up to date: an empty result.
    raw.send(f"<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='{ver2}'/></iq>")
    same = await raw.stanza(reply_to("g2"))
    assert same.get("type") == "result" and len(same) == 0
    # Stale: the whole roster with the current version.
    raw.send(f"<iq type='get' id='g3'><query xmlns='jabber:iq:roster' ver='{ver1}'/></iq>")
    query = (await raw.stanza(reply_to("g3"))).find(q("query", ROSTER))
    assert query.get("ver") == ver2
    assert [i.get("jid") for i in query] == ["c@example.org"]


async def test_features_before_authentication_do_not_include_roster_features(xmpp) -> None:
    from tests.clients import RawClient, header

    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert b"rosterver" not in features and b"pre-approval" not in features
    raw.close()


async def test_removing_a_subscribed_contact_cancels_both_ways(xmpp) -> None:
    for name in ("alice", "bob"):
        await xmpp.add_user(name)
    await subscribe_in_db("alice", "bob")
    await subscribe_in_db("bob", "alice")
    a = await login(xmpp, "alice", "pc")
    b = await login(xmpp, "bob", "pc")
    await expect(b.presences, presence_from("alice@localhost/pc"))
    # A bare roster remove (slixmpp's del_roster_item would unsubscribe by itself first).
    a.update_roster("bob@localhost", subscription="remove")
    push = await expect(a.pushes, push_for("bob@localhost"))
    assert item_xml(push, "bob@localhost").get("subscription") == "remove"
    # §2.5.2: 'unsubscribe' and 'unsubscribed' go to the contact, from the bare JID.
    unsub = await expect(b.presences, lambda p: p["type"] == "unsubscribe")
    unsubd = await expect(b.presences, lambda p: p["type"] == "unsubscribed")
    assert unsub.xml.get("from") == unsubd.xml.get("from") == "alice@localhost"
    # The contact's roster follows: both halves are gone.
    push = await expect(b.pushes, lambda iq: item_xml(iq, "alice@localhost").get("subscription") == "none")
    assert push is not None
    # Each no longer sees the other.
    await expect(b.presences, presence_from("alice@localhost/pc", "unavailable"))
    await expect(a.presences, presence_from("bob@localhost/pc", "unavailable"))
    b.send_presence(pstatus="still here")
    await nothing(a.presences, presence_from("bob@localhost/pc"))
