"""XEP-0060 §6-§7 on pubsub.localhost: publish, publish-options, retract, subscriptions with
SubIDs and options, SHIM headers, items (all, by id, max_items, XEP-0059), the errors."""

from __future__ import annotations

from tests.pubsub.helpers import (EVENT, PUBLISH_OPTIONS, PUBSUB, SERVICE, XDATA, create, error, event_of,
                                  form, iq, next_event, ok, publish, q, subscribe, users)
from tests.support.quiet import nothing_more

SHIM = "http://jabber.org/protocol/shim"
RSM = "http://jabber.org/protocol/rsm"
SUB_OPTIONS = "http://jabber.org/protocol/pubsub#subscribe_options"


def ids(answer):
    return [i.get("id") for i in answer.iter(q(PUBSUB, "item"))]


async def test_generated_item_id_is_returned_and_notified(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "g"))
    ok(await subscribe(bob, "g"))
    answer = ok(await publish(alice, "g", "<n xmlns='urn:t'/>"))
    item_id = answer.find(f".//{q(PUBSUB, 'item')}").get("id")
    assert item_id
    item = event_of(await next_event(bob)).find(f".//{q(EVENT, 'item')}")
    assert item.get("id") == item_id and item.get("publisher") == "alice@localhost"


async def test_publish_options_are_preconditions(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "po", pubsub__access_model="whitelist"))
    ok(await publish(alice, "po", "<n xmlns='urn:t'/>", options=form(PUBLISH_OPTIONS, pubsub__access_model="whitelist")))
    failed = await publish(alice, "po", "<n xmlns='urn:t'/>", options=form(PUBLISH_OPTIONS, pubsub__access_model="open"))
    assert error(failed) == ("cancel", "conflict", "precondition-not-met")


async def test_retract_with_notify_and_its_errors(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "r", pubsub__notify_retract="0"))
    ok(await publish(alice, "r", "<n xmlns='urn:t'/>", "x"))
    ok(await subscribe(bob, "r"))
    await next_event(bob)  # the last published item (§6.1.7)
    denied = await iq(bob, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><retract node='r'><item id='x'/></retract></pubsub>")
    assert error(denied)[:2] == ("auth", "forbidden")
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><retract node='r' notify='true'>"
                "<item id='x'/></retract></pubsub>"))
    retract = event_of(await next_event(bob)).find(f"{q(EVENT, 'items')}/{q(EVENT, 'retract')}")
    assert retract.get("id") == "x"
    gone = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><retract node='r'><item id='x'/></retract></pubsub>")
    assert error(gone)[1] == "item-not-found"
    no_id = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><retract node='r'><item/></retract></pubsub>")
    assert error(no_id) == ("modify", "bad-request", "item-required")
    no_node = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><retract><item id='x'/></retract></pubsub>")
    assert error(no_node) == ("modify", "bad-request", "nodeid-required")


async def test_two_subscriptions_get_subid_headers_and_unsubscribe_needs_subid(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "s", pubsub__send_last_published_item="never"))
    first = ok(await subscribe(bob, "s")).find(f".//{q(PUBSUB, 'subscription')}").get("subid")
    second = ok(await subscribe(bob, "s")).find(f".//{q(PUBSUB, 'subscription')}").get("subid")
    assert first != second
    ok(await publish(alice, "s", "<n xmlns='urn:t'/>"))
    message = await next_event(bob)
    headers = message.xml.find(q(SHIM, "headers"))
    assert sorted(h.text for h in headers.findall(q(SHIM, "header")) if h.get("name") == "SubID") == sorted([first, second])
    await nothing_more(bob, bob.messages)  # one notification for both subscriptions
    unsub = f"<pubsub xmlns='{PUBSUB}'><unsubscribe node='s' jid='bob@localhost/r'{{}}/></pubsub>"
    assert error(await iq(bob, "set", SERVICE, unsub.format(""))) == ("modify", "bad-request", "subid-required")
    assert error(await iq(bob, "set", SERVICE, unsub.format(" subid='nope'")))[1:] == ("not-acceptable", "invalid-subid")
    ok(await iq(bob, "set", SERVICE, unsub.format(f" subid='{first}'")))
    ok(await iq(bob, "set", SERVICE, unsub.format("")))
    assert error(await iq(bob, "set", SERVICE, unsub.format(""))) == ("wait", "unexpected-request", "not-subscribed")


async def test_subscribe_for_someone_else_is_invalid_jid(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "j"))
    assert error(await subscribe(bob, "j", jid="alice@localhost")) == ("modify", "bad-request", "invalid-jid")


async def test_subscription_options_pause_delivery(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "o", pubsub__send_last_published_item="never"))
    ok(await subscribe(bob, "o"))
    got = ok(await iq(bob, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><options node='o' jid='bob@localhost/r'/></pubsub>"))
    assert got.find(f".//{q(XDATA, 'field')}[@var='pubsub#deliver']/{q(XDATA, 'value')}").text == "1"
    ok(await iq(bob, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><options node='o' jid='bob@localhost/r'>"
                f"{form(SUB_OPTIONS, pubsub__deliver='0')}</options></pubsub>"))
    ok(await publish(alice, "o", "<n xmlns='urn:t'/>"))
    await nothing_more(bob, bob.messages, after=(alice,))
    bad = await iq(bob, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><options node='o' jid='bob@localhost/r'>"
                   f"{form(SUB_OPTIONS, pubsub__colour='red')}</options></pubsub>")
    assert error(bad) == ("modify", "bad-request", "invalid-options")


async def test_items_all_by_id_and_max_items(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "it"))
    for i in range(5):
        ok(await publish(alice, "it", f"<n xmlns='urn:t'>{i}</n>", f"i{i}"))
    get = f"<pubsub xmlns='{PUBSUB}'><items node='it'{{}}>{{}}</items></pubsub>"
    assert ids(ok(await iq(alice, "get", SERVICE, get.format("", "")))) == ["i0", "i1", "i2", "i3", "i4"]
    assert ids(ok(await iq(alice, "get", SERVICE, get.format("", "<item id='i3'/>")))) == ["i3"]
    assert ids(ok(await iq(alice, "get", SERVICE, get.format(" max_items='2'", "")))) == ["i3", "i4"]
    one = ok(await iq(alice, "get", SERVICE, get.format("", "<item id='i1'/>")))
    assert one.find(f".//{q(PUBSUB, 'item')}/{{urn:t}}n").text == "1"


async def test_items_are_paged_with_rsm_over_a_hundred_items(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "big", pubsub__max_items="200"))
    for i in range(150):
        ok(await publish(alice, "big", f"<n xmlns='urn:t'>{i}</n>", f"{i:03d}"))
    first = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='big'/></pubsub>"))
    assert ids(first) == [f"{i:03d}" for i in range(100)]
    page = first.find(f".//{q(RSM, 'set')}")
    assert page.findtext(q(RSM, "count")) == "150" and page.findtext(q(RSM, "last")) == "099"
    rest = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='big'/>"
                       f"<set xmlns='{RSM}'><max>100</max><after>099</after></set></pubsub>"))
    assert ids(rest) == [f"{i:03d}" for i in range(100, 150)]
    assert rest.find(f".//{q(RSM, 'first')}").get("index") == "100"


async def test_publish_payload_errors(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "e"))
    two = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><publish node='e'><item><a xmlns='urn:t'/>"
                   "<b xmlns='urn:t'/></item></publish></pubsub>")
    assert error(two) == ("modify", "bad-request", "invalid-payload")
    empty = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><publish node='e'/></pubsub>")
    assert error(empty) == ("modify", "bad-request", "item-required")
