"""XEP-0402 §5.3 on the wire: bookmarks in private storage (XEP-0049/0048), in PEP
`storage:bookmarks` and in `urn:xmpp:bookmarks:1` kept in step, both directions, with the
notifications to the owner's other resource (privatexml.sync, pubsub.pep.Mirror)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from slixmpp.plugins.xep_0048.stanza import Bookmarks

from tests.pubsub.helpers import (EVENT, PUBLISH_OPTIONS, PUBSUB, accounts, event_of, form, iq, login,
                                  next_event, ok, publish, q)
from tests.support.quiet import nothing_more

pytestmark = pytest.mark.django_db(transaction=True)

LEGACY = "storage:bookmarks"
NATIVE = "urn:xmpp:bookmarks:1"
PRIVATE = "jabber:iq:private"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
ROOM = "council@conference.localhost"


async def items(client: Any, node: str) -> list[ET.Element]:
    answer = ok(await iq(client, "get", None, f"<pubsub xmlns='{PUBSUB}'><items node='{node}'/></pubsub>"))
    return answer.findall(f".//{q(PUBSUB, 'items')}/{q(PUBSUB, 'item')}")


async def private_storage(client: Any) -> ET.Element:
    answer = ok(await iq(client, "get", None, f"<query xmlns='{PRIVATE}'><storage xmlns='{LEGACY}'/></query>"))
    return answer.find(f"{q(PRIVATE, 'query')}/{q(LEGACY, 'storage')}")


def event_items(message: Any, node: str) -> ET.Element:
    found = event_of(message).find(f"{q(EVENT, 'items')}[@node='{node}']")
    assert found is not None, ET.tostring(message.xml)
    return found


async def legacy_client(srv: Any, name: str, resource: str) -> Any:
    client = await login(srv, name, resource=resource)
    client.register_plugin("xep_0049")
    client.register_plugin("xep_0048")
    return client


async def test_account_advertises_compat_features(xmpp):
    await accounts(xmpp, "alice")
    alice = await login(xmpp, "alice")
    info = ok(await iq(alice, "get", "alice@localhost", f"<query xmlns='{DISCO_INFO}'/>"))
    features = {f.get("var") for f in info.iter(q(DISCO_INFO, "feature"))}
    assert {f"{NATIVE}#compat", f"{NATIVE}#compat-pep"} <= features


async def test_private_storage_bookmarks_reach_both_pep_nodes(xmpp):
    await accounts(xmpp, "alice")
    old = await legacy_client(xmpp, "alice", "old")
    modern = await login(xmpp, "alice", NATIVE, LEGACY, resource="modern")
    bookmarks = Bookmarks()
    bookmarks.add_conference(ROOM, "Puck", name="Council", autojoin=True)
    bookmarks.add_url("https://example.org/", name="Example")
    await old["xep_0048"].set_bookmarks(bookmarks, method="xep_0049")
    notified = {}
    for _ in range(2):  # one event per node, to the other resource
        message = await next_event(modern)
        assert message["from"] == "alice@localhost" and message["to"] == "alice@localhost/modern"
        node = event_of(message)[0].get("node")
        notified[node] = event_items(message, node)
    (item,) = notified[NATIVE].findall(q(EVENT, "item"))
    conf = item.find(q(NATIVE, "conference"))
    assert item.get("id") == ROOM and conf.get("name") == "Council" and conf.get("autojoin") == "true"
    assert conf.findtext(q(NATIVE, "nick")) == "Puck"
    legacy = notified[LEGACY].find(f"{q(EVENT, 'item')}[@id='current']/{q(LEGACY, 'storage')}")
    assert legacy.find(q(LEGACY, "url")).get("url") == "https://example.org/"
    # Retrieved from the nodes, too: one native item per room, the <storage/> as `current`.
    (stored,) = await items(modern, NATIVE)
    assert stored.get("id") == ROOM and stored.find(q(NATIVE, "conference")).get("name") == "Council"
    (current,) = await items(modern, LEGACY)
    assert current.get("id") == "current"
    assert current.find(f"{q(LEGACY, 'storage')}/{q(LEGACY, 'conference')}").get("jid") == ROOM
    # Removing the room from private storage retracts its native item (XEP-0402 §5.3.2).
    await old["xep_0048"].set_bookmarks(Bookmarks(), method="xep_0049")
    retracted = {}
    for _ in range(2):
        message = await next_event(modern)
        node = event_of(message)[0].get("node")
        retracted[node] = event_items(message, node)
    assert retracted[NATIVE].find(q(EVENT, "retract")).get("id") == ROOM
    assert await items(modern, NATIVE) == []
    await nothing_more(modern, modern.messages)


async def test_native_bookmarks_reach_private_storage_and_legacy_node(xmpp):
    await accounts(xmpp, "alice")
    old = await legacy_client(xmpp, "alice", "old")
    start = Bookmarks()
    start.add_url("https://example.org/", name="Example")
    await old["xep_0048"].set_bookmarks(start, method="xep_0049")
    watcher = await login(xmpp, "alice", LEGACY, resource="watcher")
    modern = await login(xmpp, "alice", resource="modern")
    options = form(PUBLISH_OPTIONS, pubsub__persist_items="true", pubsub__max_items="max",
                   pubsub__send_last_published_item="never", pubsub__access_model="whitelist")
    ok(await publish(modern, NATIVE, f"<conference xmlns='{NATIVE}' name='Council' autojoin='true'>"
                                     f"<nick>Puck</nick></conference>", item_id=ROOM, to=None, options=options))
    message = await next_event(watcher)
    storage = event_items(message, LEGACY).find(f"{q(EVENT, 'item')}[@id='current']/{q(LEGACY, 'storage')}")
    assert storage.find(q(LEGACY, "conference")).get("jid") == ROOM
    # The client using only private storage sees the room; its <url/> bookmark stayed.
    result = await old["xep_0048"].get_bookmarks(method="xep_0049")
    stored = result["private"]["bookmarks"].xml
    conf = stored.find(q(LEGACY, "conference"))
    assert conf.get("jid") == ROOM and conf.get("name") == "Council" and conf.get("autojoin") == "true"
    assert conf.findtext(q(LEGACY, "nick")) == "Puck"
    assert stored.find(q(LEGACY, "url")).get("url") == "https://example.org/"
    # A retract removes it from private storage and from the legacy node.
    ok(await iq(modern, "set", None, f"<pubsub xmlns='{PUBSUB}'><retract node='{NATIVE}' notify='true'>"
                                     f"<item id='{ROOM}'/></retract></pubsub>"))
    message = await next_event(watcher)
    storage = event_items(message, LEGACY).find(f"{q(EVENT, 'item')}/{q(LEGACY, 'storage')}")
    assert storage.find(q(LEGACY, "conference")) is None
    private = await private_storage(old)
    assert private.find(q(LEGACY, "conference")) is None and private.find(q(LEGACY, "url")) is not None
    await nothing_more(watcher, watcher.messages)


async def test_legacy_pep_client_reaches_private_storage_and_native_node(xmpp):
    await accounts(xmpp, "alice")
    pep_client = await login(xmpp, "alice", resource="pep")
    modern = await login(xmpp, "alice", NATIVE, resource="modern")
    storage = (f"<storage xmlns='{LEGACY}'><conference jid='{ROOM}' name='Council' autojoin='false'>"
               f"<nick>Puck</nick></conference></storage>")
    options = form(PUBLISH_OPTIONS, pubsub__persist_items="true", pubsub__access_model="whitelist")
    ok(await publish(pep_client, LEGACY, storage, item_id="current", to=None, options=options))
    message = await next_event(modern)
    item = event_items(message, NATIVE).find(q(EVENT, "item"))
    assert item.get("id") == ROOM and item.find(q(NATIVE, "conference")).get("autojoin") is None
    private = await private_storage(pep_client)
    assert private.find(q(LEGACY, "conference")).get("jid") == ROOM
    # The legacy client empties its list: the room is retracted from the native node too.
    ok(await publish(pep_client, LEGACY, f"<storage xmlns='{LEGACY}'/>", item_id="current", to=None))
    message = await next_event(modern)
    assert event_items(message, NATIVE).find(q(EVENT, "retract")).get("id") == ROOM
    assert (await private_storage(pep_client)).find(q(LEGACY, "conference")) is None
    assert await items(modern, NATIVE) == []


async def test_contacts_get_no_bookmark_events_and_other_namespaces_stay_private(xmpp):
    from tests.pubsub.helpers import subscribe_presence

    await accounts(xmpp, "alice", "bob")
    await subscribe_presence(xmpp, "bob", "alice")
    bob = await login(xmpp, "bob", NATIVE, LEGACY)  # a contact who asks for bookmarks
    old = await legacy_client(xmpp, "alice", "old")
    modern = await login(xmpp, "alice", NATIVE, LEGACY, resource="modern")
    ok(await iq(old, "set", None, f"<query xmlns='{PRIVATE}'><prefs xmlns='urn:test:prefs'/></query>"))
    bookmarks = Bookmarks()
    bookmarks.add_conference(ROOM, "Puck", password="secret")
    await old["xep_0048"].set_bookmarks(bookmarks, method="xep_0049")
    nodes = {event_of(await next_event(modern))[0].get("node") for _ in range(2)}
    assert nodes == {NATIVE, LEGACY}  # the bookmark set only: the other namespace made no event
    await nothing_more(modern, modern.messages)
    await nothing_more(bob, bob.messages, after=(modern,))  # whitelist nodes: the owner only
    denied = await iq(bob, "get", "alice@localhost", f"<pubsub xmlns='{PUBSUB}'><items node='{NATIVE}'/></pubsub>")
    assert denied.get("type") == "error"


async def test_a_non_storage_legacy_item_leaves_private_storage_alone(xmpp):
    await accounts(xmpp, "alice")
    old = await legacy_client(xmpp, "alice", "old")
    bookmarks = Bookmarks()
    bookmarks.add_conference(ROOM, "Puck")
    await old["xep_0048"].set_bookmarks(bookmarks, method="xep_0049")
    ok(await publish(old, LEGACY, "<other xmlns='urn:test:other'/>", item_id="current", to=None))
    assert (await private_storage(old)).find(q(LEGACY, "conference")).get("jid") == ROOM
    assert [i.get("id") for i in await items(old, NATIVE)] == [ROOM]
