"""XEP-0060 §8 node life on pubsub.localhost: create (instant, configured), configure,
delete with redirect, purge, owner management, disco (§5)."""

from __future__ import annotations

from tests.pubsub.helpers import (EVENT, NODE_CONFIG, OWNER, PUBSUB, SERVICE, XDATA, create, error,
                                  event_of, form, iq, next_event, ok, publish, q, subscribe, users)
from tests.support.quiet import nothing_more

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"


def field(el, var):
    for f in el.iter(q(XDATA, "field")):
        if f.get("var") == var:
            return [v.text for v in f.findall(q(XDATA, "value"))]
    return None


async def test_instant_node_gets_a_generated_name(xmpp):
    (alice,) = await users(xmpp, "alice")
    answer = ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{PUBSUB}'><create/></pubsub>"))
    name = answer.find(f"{q(PUBSUB, 'pubsub')}/{q(PUBSUB, 'create')}").get("node")
    assert name
    ok(await publish(alice, name, "<x xmlns='urn:t'/>"))


async def test_create_with_config_and_read_it_back(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "cfg", pubsub__title="Hello", pubsub__max_items="3",
                    pubsub__access_model="whitelist"))
    answer = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{OWNER}'><configure node='cfg'/></pubsub>"))
    x = answer.find(f".//{q(XDATA, 'x')}")
    assert field(x, "FORM_TYPE") == [NODE_CONFIG]
    assert field(x, "pubsub#title") == ["Hello"]
    assert field(x, "pubsub#max_items") == ["3"]
    assert field(x, "pubsub#access_model") == ["whitelist"]


async def test_configure_enforces_values_and_max_items(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "m"))
    for i in range(4):
        ok(await publish(alice, "m", f"<n xmlns='urn:t'>{i}</n>", f"i{i}"))
    bad = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><configure node='m'>"
                   f"{form(NODE_CONFIG, pubsub__access_model='everyone')}</configure></pubsub>")
    assert error(bad)[:2] == ("modify", "not-acceptable")
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><configure node='m'>"
                f"{form(NODE_CONFIG, pubsub__max_items='2')}</configure></pubsub>"))
    items = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='m'/></pubsub>"))
    assert [i.get("id") for i in items.iter(q(PUBSUB, "item"))] == ["i2", "i3"]


async def test_collection_nodes_are_refused(xmpp):
    (alice,) = await users(xmpp, "alice")
    answer = await create(alice, "c", pubsub__node_type="collection")
    assert error(answer) == ("cancel", "feature-not-implemented", "unsupported")


async def test_notify_config_sends_the_new_configuration(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "nc", pubsub__notify_config="1"))
    ok(await subscribe(bob, "nc"))
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><configure node='nc'>"
                f"{form(NODE_CONFIG, pubsub__title='New')}</configure></pubsub>"))
    conf = event_of(await next_event(bob)).find(q(EVENT, "configuration"))
    assert conf.get("node") == "nc" and field(conf, "pubsub#title") == ["New"]


async def test_delete_with_redirect_notifies_subscribers(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "old", pubsub__notify_delete="1"))
    ok(await subscribe(bob, "old"))
    denied = await iq(bob, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><delete node='old'/></pubsub>")
    assert error(denied)[:2] == ("auth", "forbidden")
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><delete node='old'>"
                "<redirect uri='xmpp:pubsub.localhost?;node=new'/></delete></pubsub>"))
    delete = event_of(await next_event(bob)).find(q(EVENT, "delete"))
    assert delete.get("node") == "old"
    assert delete.find(q(EVENT, "redirect")).get("uri") == "xmpp:pubsub.localhost?;node=new"
    assert error(await subscribe(bob, "old"))[1] == "item-not-found"


async def test_purge_removes_items_and_notifies(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "p"))
    ok(await publish(alice, "p", "<n xmlns='urn:t'/>", "a"))
    ok(await subscribe(bob, "p"))
    await next_event(bob)  # §6.1.7: the last item comes on subscription
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><purge node='p'/></pubsub>"))
    assert event_of(await next_event(bob)).find(q(EVENT, "purge")).get("node") == "p"
    items = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><items node='p'/></pubsub>"))
    assert list(items.iter(q(PUBSUB, "item"))) == []


async def test_owner_manages_affiliations_and_subscriptions(xmpp):
    alice, bob, carol = await users(xmpp, "alice", "bob", "carol")
    ok(await create(alice, "team"))
    assert error(await publish(bob, "team", "<n xmlns='urn:t'/>"))[:2] == ("auth", "forbidden")
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><affiliations node='team'>"
                "<affiliation jid='bob@localhost' affiliation='publisher'/>"
                "<affiliation jid='carol@localhost' affiliation='outcast'/></affiliations></pubsub>"))
    ok(await publish(bob, "team", "<n xmlns='urn:t'/>"))
    assert error(await subscribe(carol, "team"))[:2] == ("auth", "forbidden")
    affs = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{OWNER}'><affiliations node='team'/></pubsub>"))
    got = {a.get("jid"): a.get("affiliation") for a in affs.iter(q(OWNER, "affiliation"))}
    assert got == {"alice@localhost": "owner", "bob@localhost": "publisher", "carol@localhost": "outcast"}
    # the owner subscribes bob, bob hears it (§8.8.4) and the list shows it
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><subscriptions node='team'>"
                "<subscription jid='bob@localhost/r' subscription='subscribed'/></subscriptions></pubsub>"))
    sub = event_of(await next_event(bob)).find(q(EVENT, "subscription"))
    assert sub.get("jid") == "bob@localhost/r" and sub.get("subscription") == "subscribed"
    subs = ok(await iq(alice, "get", SERVICE, f"<pubsub xmlns='{OWNER}'><subscriptions node='team'/></pubsub>"))
    assert [(s.get("jid"), s.get("subscription")) for s in subs.iter(q(OWNER, "subscription"))] == [
        ("bob@localhost/r", "subscribed")]
    mine = ok(await iq(bob, "get", SERVICE, f"<pubsub xmlns='{PUBSUB}'><affiliations/></pubsub>"))
    assert [(a.get("node"), a.get("affiliation")) for a in mine.iter(q(PUBSUB, "affiliation"))] == [
        ("team", "publisher")]
    lone = await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><affiliations node='team'>"
                    "<affiliation jid='alice@localhost' affiliation='none'/></affiliations></pubsub>")
    assert error(lone)[1] == "not-acceptable"


async def test_disco_of_service_nodes_and_items(xmpp):
    (alice,) = await users(xmpp, "alice")
    ok(await create(alice, "d", pubsub__title="Dee"))
    ok(await publish(alice, "d", "<n xmlns='urn:t'/>", "one"))
    info = ok(await iq(alice, "get", SERVICE, f"<query xmlns='{DISCO_INFO}'/>"))
    ident = info.find(f".//{q(DISCO_INFO, 'identity')}")
    assert (ident.get("category"), ident.get("type")) == ("pubsub", "service")
    features = {f.get("var") for f in info.iter(q(DISCO_INFO, "feature"))}
    assert {PUBSUB, f"{PUBSUB}#publish", f"{PUBSUB}#instant-nodes", f"{PUBSUB}#rsm"} <= features
    nodes = ok(await iq(alice, "get", SERVICE, f"<query xmlns='{DISCO_ITEMS}'/>"))
    assert [(i.get("node"), i.get("name")) for i in nodes.iter(q(DISCO_ITEMS, "item"))] == [("d", "Dee")]
    node = ok(await iq(alice, "get", SERVICE, f"<query xmlns='{DISCO_INFO}' node='d'/>"))
    assert node.find(f".//{q(DISCO_INFO, 'identity')}").get("type") == "leaf"
    assert field(node, "pubsub#title") == ["Dee"]
    items = ok(await iq(alice, "get", SERVICE, f"<query xmlns='{DISCO_ITEMS}' node='d'/>"))
    assert [i.get("name") for i in items.iter(q(DISCO_ITEMS, "item"))] == ["one"]
    missing = await iq(alice, "get", SERVICE, f"<query xmlns='{DISCO_INFO}' node='nope'/>")
    assert error(missing)[1] == "item-not-found"
    await nothing_more(alice, alice.messages)
