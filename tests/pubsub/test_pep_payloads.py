"""XEP-0163 payloads as clients publish them, each to the contacts who asked for it (+notify):
User Mood (XEP-0107), User Tune (XEP-0118), User Activity (XEP-0108), User Location
(XEP-0080), User Nickname (XEP-0172), User Avatar (XEP-0084), OMEMO device lists."""

from __future__ import annotations

import pytest

from tests.pubsub.helpers import (EVENT, PUBSUB, accounts, event_of, iq, login, next_event, ok, publish,
                                  q, subscribe_presence)
from tests.support.quiet import nothing_more

AVATAR_DATA = "urn:xmpp:avatar:data"
AVATAR_META = "urn:xmpp:avatar:metadata"
OMEMO = "eu.siacs.conversations.axolotl"

PAYLOADS = [
    ("http://jabber.org/protocol/mood", "current",
     "<mood xmlns='http://jabber.org/protocol/mood'><happy/><text>Yay</text></mood>", "{%s}happy"),
    ("http://jabber.org/protocol/tune", "current",
     "<tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist><length>686</length></tune>", "{%s}artist"),
    ("http://jabber.org/protocol/activity", "current",
     "<activity xmlns='http://jabber.org/protocol/activity'><relaxing><partying/></relaxing></activity>",
     "{%s}relaxing/{%s}partying"),
    ("http://jabber.org/protocol/geoloc", "current",
     "<geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>45.44</lat><lon>12.33</lon></geoloc>", "{%s}lat"),
    ("http://jabber.org/protocol/nick", "current",
     "<nick xmlns='http://jabber.org/protocol/nick'>Ali</nick>", None),
    (AVATAR_META, "111f4b3c50d7b0df729d299bc6f8e9ef9066971f",
     f"<metadata xmlns='{AVATAR_META}'><info bytes='12' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' "
     "height='64' width='64' type='image/png'/></metadata>", "{%s}info"),
    (f"{OMEMO}.devicelist", "current",
     f"<list xmlns='{OMEMO}'><device id='12345'/><device id='4223'/></list>", "{%s}device"),
]


@pytest.mark.parametrize("node,item_id,payload,path", PAYLOADS, ids=[p[0].rsplit("/", 1)[-1] for p in PAYLOADS])
async def test_payload_reaches_contacts_who_asked(xmpp, node, item_id, payload, path):
    await accounts(xmpp, "alice", "bob", "carol")
    await subscribe_presence(xmpp, "bob", "alice")
    await subscribe_presence(xmpp, "carol", "alice")
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob", node)
    carol = await login(xmpp, "carol")  # a contact that did not ask
    ok(await publish(alice, node, payload, item_id, to=None))
    message = await next_event(bob)
    assert message["from"] == "alice@localhost"
    item = event_of(message).find(f"{q(EVENT, 'items')}[@node='{node}']/{q(EVENT, 'item')}")
    assert item.get("id") == item_id
    (body,) = list(item)
    namespace = body.tag[1:].split("}")[0]
    if path is None:
        assert body.text == "Ali"
    else:
        assert body.find(path.replace("%s", namespace)) is not None
    await nothing_more(carol, carol.messages, after=(alice, bob))


async def test_avatar_data_is_fetched_by_contacts(xmpp):
    """XEP-0084 §4.2: data is published, not notified (nobody +notifies it), and retrieved by id."""
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob", AVATAR_META)
    sha = "111f4b3c50d7b0df729d299bc6f8e9ef9066971f"
    ok(await publish(alice, AVATAR_DATA, f"<data xmlns='{AVATAR_DATA}'>iVBORw0KGgo=</data>", sha, to=None))
    await nothing_more(bob, bob.messages, after=(alice,))
    got = ok(await iq(bob, "get", "alice@localhost",
                      f"<pubsub xmlns='{PUBSUB}'><items node='{AVATAR_DATA}'><item id='{sha}'/></items></pubsub>"))
    assert got.find(f".//{q(PUBSUB, 'item')}/{{{AVATAR_DATA}}}data").text == "iVBORw0KGgo="
