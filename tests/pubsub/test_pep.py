"""XEP-0163 PEP on every account, over the wire: disco, auto-create, presence access,
notifications filtered by +notify, the last item on coming online, XEP-0223 private data."""

from __future__ import annotations

from tests.pubsub.helpers import (EVENT, PUBLISH_OPTIONS, PUBSUB, accounts, error, event_of, form, iq,
                                  login, next_event, ok, publish, q, set_caps, subscribe_presence)
from tests.support.quiet import nothing_more

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
TUNE = "http://jabber.org/protocol/tune"
MOOD = "http://jabber.org/protocol/mood"


async def test_account_disco_has_pep_identity_and_features(xmpp):
    await accounts(xmpp, "alice")
    alice = await login(xmpp, "alice")
    info = ok(await iq(alice, "get", "alice@localhost", f"<query xmlns='{DISCO_INFO}'/>"))
    idents = {(i.get("category"), i.get("type")) for i in info.iter(q(DISCO_INFO, "identity"))}
    assert ("pubsub", "pep") in idents and ("account", "registered") in idents
    features = {f.get("var") for f in info.iter(q(DISCO_INFO, "feature"))}
    assert {PUBSUB, f"{PUBSUB}#auto-create", f"{PUBSUB}#filtered-notifications",
            f"{PUBSUB}#publish-options", f"{PUBSUB}#access-presence"} <= features


async def test_publish_auto_creates_and_notifies_contacts_with_notify(xmpp):
    await accounts(xmpp, "alice", "bob", "carol", "dave")
    await subscribe_presence(xmpp, "bob", "alice")  # bob sees alice: notified
    await subscribe_presence(xmpp, "carol", "alice")  # carol sees alice but has no +notify
    alice = await login(xmpp, "alice", TUNE)
    bob = await login(xmpp, "bob", TUNE)
    carol = await login(xmpp, "carol", MOOD)
    dave = await login(xmpp, "dave", TUNE)  # not a contact
    answer = ok(await publish(alice, TUNE, f"<tune xmlns='{TUNE}'><artist>Yes</artist></tune>", to=None))
    item_id = answer.find(f".//{q(PUBSUB, 'item')}").get("id")
    for client in (bob, alice):  # the owner's own resource with +notify too
        message = await next_event(client)
        assert message["from"] == "alice@localhost"
        assert message["to"] == f"{client.boundjid.bare}/r"
        item = event_of(message).find(f"{q(EVENT, 'items')}[@node='{TUNE}']/{q(EVENT, 'item')}")
        assert item.get("id") == item_id
        assert item.find(f"{{{TUNE}}}tune/{{{TUNE}}}artist").text == "Yes"
    await nothing_more(carol, carol.messages, after=(alice, bob))
    await nothing_more(dave, dave.messages)
    nodes = ok(await iq(alice, "get", "alice@localhost", f"<query xmlns='{DISCO_ITEMS}'/>"))
    assert [i.get("node") for i in nodes.iter(q(DISCO_ITEMS, "item"))] == [TUNE]


async def test_presence_access_is_the_default(xmpp):
    await accounts(xmpp, "alice", "bob", "dave")
    await subscribe_presence(xmpp, "bob", "alice")
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob")
    dave = await login(xmpp, "dave")
    ok(await publish(alice, MOOD, f"<mood xmlns='{MOOD}'><happy/></mood>", "current", to=None))
    get = f"<pubsub xmlns='{PUBSUB}'><items node='{MOOD}'/></pubsub>"
    items = ok(await iq(bob, "get", "alice@localhost", get))
    assert items.find(f".//{q(PUBSUB, 'item')}/{{{MOOD}}}mood/{{{MOOD}}}happy") is not None
    denied = await iq(dave, "get", "alice@localhost", get)
    assert error(denied) == ("auth", "not-authorized", "presence-subscription-required")
    config = ok(await iq(alice, "get", None, f"<pubsub xmlns='{PUBSUB}#owner'><configure node='{MOOD}'/></pubsub>"))
    value = config.find(".//{jabber:x:data}field[@var='pubsub#access_model']/{jabber:x:data}value").text
    assert value == "presence"


async def test_others_cannot_publish_to_my_pep(xmpp):
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    bob = await login(xmpp, "bob")
    await login(xmpp, "alice")
    denied = await publish(bob, MOOD, f"<mood xmlns='{MOOD}'><sad/></mood>", to="alice@localhost")
    assert error(denied)[:2] == ("auth", "forbidden")


async def test_private_data_with_whitelist_stays_private(xmpp):
    """XEP-0223 §3: publish-options persist_items + access_model whitelist."""
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    node = "storage:bookmarks"
    alice = await login(xmpp, "alice", node)
    bob = await login(xmpp, "bob", node)
    options = form(PUBLISH_OPTIONS, pubsub__persist_items="true", pubsub__access_model="whitelist")
    ok(await publish(alice, node, "<storage xmlns='storage:bookmarks'/>", "current", to=None, options=options))
    assert event_of(await next_event(alice)) is not None  # the owner's own resource
    await nothing_more(bob, bob.messages, after=(alice,))
    get = f"<pubsub xmlns='{PUBSUB}'><items node='{node}'/></pubsub>"
    assert error(await iq(bob, "get", "alice@localhost", get)) == ("cancel", "not-allowed", "closed-node")
    mine = ok(await iq(alice, "get", None, get))
    assert mine.find(f".//{q(PUBSUB, 'item')}").get("id") == "current"
    # publish-options that differ from the node's configuration are refused (§7.1.5)
    other = form(PUBLISH_OPTIONS, pubsub__access_model="presence")
    assert error(await publish(alice, node, "<storage xmlns='storage:bookmarks'/>", "current", to=None,
                               options=other)) == ("cancel", "conflict", "precondition-not-met")


async def test_last_item_reaches_a_resource_coming_online_with_notify(xmpp):
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    alice = await login(xmpp, "alice")
    ok(await publish(alice, TUNE, f"<tune xmlns='{TUNE}'><title>One</title></tune>", "t1", to=None))
    ok(await publish(alice, TUNE, f"<tune xmlns='{TUNE}'><title>Two</title></tune>", "t2", to=None))
    bob = await login(xmpp, "bob", TUNE)
    message = await next_event(bob)
    assert message["from"] == "alice@localhost"
    item = event_of(message).find(f".//{q(EVENT, 'item')}")
    assert item.get("id") == "t2" and item.find(f"{{{TUNE}}}tune/{{{TUNE}}}title").text == "Two"
    await set_caps(xmpp, "bob@localhost/r", TUNE)  # caps again: nothing twice
    await nothing_more(bob, bob.messages)


async def test_last_item_once_caps_become_known(xmpp):
    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    alice = await login(xmpp, "alice")
    ok(await publish(alice, MOOD, f"<mood xmlns='{MOOD}'><happy/></mood>", "m", to=None))
    bob = await login(xmpp, "bob")  # caps unknown: no notify
    await nothing_more(bob, bob.messages)
    await set_caps(xmpp, "bob@localhost/r", MOOD)
    assert event_of(await next_event(bob)).find(f".//{q(EVENT, 'item')}").get("id") == "m"
