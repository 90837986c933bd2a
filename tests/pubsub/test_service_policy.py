"""Node limits per owner (XMPP_PUBSUB_MAX_NODES), payload-less notifications
(pubsub#deliver_payloads), the roster access model with groups (XEP-0060 §4.5)."""

from __future__ import annotations

from tests.pubsub.helpers import (EVENT, PUBSUB, SERVICE, accounts, create, error, event_of, iq, login,
                                  next_event, ok, publish, q, subscribe, subscribe_presence, users)


async def test_nodes_per_owner_are_limited(make_server, settings):
    settings.XMPP_PUBSUB_MAX_NODES = 2
    xmpp = await make_server()
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "a"))
    ok(await create(alice, "b"))
    assert error(await create(alice, "c"))[:2] == ("cancel", "not-allowed")
    ok(await create(bob, "c"))  # another owner
    ok(await publish(alice, "urn:one", "<x xmlns='urn:one'/>", to=None))
    ok(await publish(alice, "urn:two", "<x xmlns='urn:two'/>", to=None))
    assert error(await publish(alice, "urn:three", "<x xmlns='urn:three'/>", to=None))[1] == "not-allowed"


async def test_notifications_without_payloads(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "bare", pubsub__deliver_payloads="0", pubsub__notification_type="normal"))
    ok(await subscribe(bob, "bare"))
    ok(await publish(alice, "bare", "<secret xmlns='urn:t'>x</secret>", "only-id"))
    message = await next_event(bob)
    assert message.xml.get("type") is None  # normal (RFC 6121 §5.2.2: no type attribute)
    item = event_of(message).find(f".//{q(EVENT, 'item')}")
    assert item.get("id") == "only-id" and len(item) == 0
    full = ok(await iq(bob, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='bare'/></pubsub>"))
    assert full.find(f".//{q(PUBSUB, 'item')}/{{urn:t}}secret").text == "x"


async def test_roster_access_model_checks_groups(xmpp):
    from rosters.actions import do_set_item
    from xmppd.storage import db

    await accounts(xmpp, "alice", "bob", "carol")
    await subscribe_presence(xmpp, "bob", "alice")
    await subscribe_presence(xmpp, "carol", "alice")
    await db(do_set_item, "alice", "localhost", "bob@localhost", "", ["friends"])
    await db(do_set_item, "alice", "localhost", "carol@localhost", "", ["work"])
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob")
    carol = await login(xmpp, "carol")
    ok(await create(alice, "r", pubsub__access_model="roster", pubsub__roster_groups_allowed="friends"))
    ok(await subscribe(bob, "r"))
    assert error(await subscribe(carol, "r")) == ("auth", "not-authorized", "not-in-roster-group")
