"""XEP-0060 send_last_published_item = on_sub_and_presence on pubsub.localhost (§4.3, §16.4):
a subscriber that comes online (a resource's initial presence) gets the last item of the
nodes it is subscribed to; on_sub and never nodes send nothing then."""

from __future__ import annotations

from tests.clients import connect
from tests.pubsub.helpers import (EVENT, PUBSUB, SERVICE, create, event_of, form, iq, listen, next_event, ok,
                                  publish, q, subscribe, users)
from tests.support.quiet import nothing_more

SUBSCRIBE_OPTIONS = "http://jabber.org/protocol/pubsub#subscribe_options"

async def _drain(client, count: int) -> None:
    for _ in range(count):
        await next_event(client)


async def test_last_item_when_a_subscriber_comes_online(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "presence", pubsub__send_last_published_item="on_sub_and_presence"))
    ok(await create(alice, "onsub", pubsub__send_last_published_item="on_sub"))
    ok(await create(alice, "never", pubsub__send_last_published_item="never"))
    ok(await create(alice, "mine", pubsub__send_last_published_item="on_sub_and_presence"))
    for node in ("presence", "onsub", "never", "mine"):
        ok(await publish(alice, node, f"<n xmlns='urn:t'>{node}-1</n>", "one"))
    for node in ("presence", "onsub", "never"):
        ok(await subscribe(bob, node, jid="bob@localhost"))
    ok(await subscribe(bob, "mine"))  # bob@localhost/r only
    await _drain(bob, 3)  # on subscription: presence, onsub, mine
    ok(await publish(alice, "presence", "<n xmlns='urn:t'>presence-2</n>", "two"))
    await _drain(bob, 1)  # the notification of "two"
    await nothing_more(bob, bob.messages)

    other = listen(await connect(xmpp, "bob@localhost", presence=False, resource="r2"))
    other.send_presence()
    message = await next_event(other)
    assert message["from"] == SERVICE and message["to"] == "bob@localhost/r2"
    items = event_of(message).find(q(EVENT, "items"))
    assert items.get("node") == "presence"
    item = items.find(q(EVENT, "item"))
    assert item.get("id") == "two" and item.find("{urn:t}n").text == "presence-2"
    await nothing_more(other, other.messages)  # nothing from onsub, never, nor bob/r's "mine"
    await nothing_more(bob, bob.messages)  # the resource already online gets nothing again


async def test_paused_delivery_gets_no_last_item(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "paused", pubsub__send_last_published_item="on_sub_and_presence"))
    ok(await publish(alice, "paused", "<n xmlns='urn:t'/>", "one"))
    ok(await subscribe(bob, "paused", jid="bob@localhost"))
    await _drain(bob, 1)
    options = form(SUBSCRIBE_OPTIONS, pubsub__deliver="0")
    ok(await iq(bob, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><options node='paused' jid='bob@localhost'>"
                                     f"{options}</options></pubsub>"))
    other = listen(await connect(xmpp, "bob@localhost", presence=False, resource="r2"))
    other.send_presence()
    await nothing_more(other, other.messages)
