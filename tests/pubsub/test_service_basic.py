"""XEP-0060 on pubsub.localhost, over the wire: create, publish, notify, items."""

from __future__ import annotations

from tests.pubsub.helpers import (EVENT, PUBSUB, SERVICE, create, error, event_of, next_event, ok,
                                  publish, q, subscribe, users)
from tests.support.quiet import nothing_more


async def test_publish_reaches_subscriber_with_payload(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "news"))
    answer = ok(await subscribe(bob, "news"))
    sub = answer.find(f"{q(PUBSUB, 'pubsub')}/{q(PUBSUB, 'subscription')}")
    assert sub.get("subscription") == "subscribed" and sub.get("node") == "news" and sub.get("subid")
    answer = ok(await publish(alice, "news", "<entry xmlns='urn:test'>hi</entry>", "i1"))
    assert answer.find(f".//{q(PUBSUB, 'item')}").get("id") == "i1"
    message = await next_event(bob)
    assert message["from"] == SERVICE and message["type"] == "headline"
    item = event_of(message).find(f"{q(EVENT, 'items')}/{q(EVENT, 'item')}")
    assert item.get("id") == "i1"
    assert item.find("{urn:test}entry").text == "hi"
    await nothing_more(alice, alice.messages)


async def test_create_twice_is_conflict_and_unknown_node_is_item_not_found(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "n"))
    assert error(await create(alice, "n"))[:2] == ("cancel", "conflict")
    assert error(await publish(alice, "nope", "<x xmlns='urn:t'/>"))[1] == "item-not-found"
