"""Persistent nodes survive a restart (the state lives in the database, not in the process);
item expiry (pubsub#item_expire) hides old items."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.clients import connect

TUNE = "http://jabber.org/protocol/tune"
from tests.pubsub.helpers import (EVENT, PUBSUB, SERVICE, create, event_of, iq, listen, next_event, ok,
                                  publish, q, subscribe, users)


async def test_nodes_items_and_subscriptions_survive_a_restart(make_server):
    first = await make_server()
    alice, bob = await users(first, "alice", "bob")
    ok(await create(alice, "keep", pubsub__title="Kept"))
    ok(await publish(alice, "keep", "<n xmlns='urn:t'>1</n>", "one"))
    ok(await subscribe(bob, "keep", jid="bob@localhost"))
    ok(await publish(alice, TUNE, "<tune xmlns='http://jabber.org/protocol/tune'/>", "t", to=None))
    for client in (alice, bob):
        client.abort()
    await first.runner.stop()

    second = await make_server()
    alice = listen(await connect(second, "alice@localhost", resource="r"))
    bob = listen(await connect(second, "bob@localhost", resource="r", presence=False))
    bob.send_presence()  # on_sub_and_presence (the default): the last item as bob comes online
    last = event_of(await next_event(bob)).find(f".//{q(EVENT, 'item')}")
    assert last.get("id") == "one"
    items = ok(await iq(bob, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='keep'/></pubsub>"))
    assert [i.get("id") for i in items.iter(q(PUBSUB, "item"))] == ["one"]
    ok(await publish(alice, "keep", "<n xmlns='urn:t'>2</n>", "two"))  # alice is still the owner
    item = event_of(await next_event(bob)).find(f".//{q(EVENT, 'item')}")
    assert item.get("id") == "two"
    pep = ok(await iq(alice, "get", None, f"<pubsub xmlns='{PUBSUB}'><items node='{TUNE}'/></pubsub>"))
    assert [i.get("id") for i in pep.iter(q(PUBSUB, "item"))] == ["t"]


async def test_expired_items_are_not_served(xmpp):
    from pubsub.models import Item
    from xmppd.storage import db

    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "short", pubsub__item_expire="60"))
    ok(await publish(alice, "short", "<n xmlns='urn:t'/>", "old"))
    ok(await publish(alice, "short", "<n xmlns='urn:t'/>", "new"))
    await db(lambda: Item.objects.filter(item_id="old").update(published_at=timezone.now() - timedelta(seconds=120)))
    items = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='short'/></pubsub>"))
    assert [i.get("id") for i in items.iter(q(PUBSUB, "item"))] == ["new"]
