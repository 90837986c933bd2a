"""XEP-0060 §4.5 access models on pubsub.localhost: open, presence, roster, whitelist and the
§8.6 authorize flow (a form to the owner, the owner's answer, the subscriber told)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.pubsub.helpers import (EVENT, OWNER, PUBSUB, SERVICE, XDATA, create, error, event_of, iq,
                                  next_event, ok, publish, q, subscribe, users)

SUB_AUTH = "http://jabber.org/protocol/pubsub#subscribe_authorization"


async def test_whitelist_node_is_closed_to_others(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "w", pubsub__access_model="whitelist"))
    assert error(await subscribe(bob, "w")) == ("cancel", "not-allowed", "closed-node")
    get = f"<pubsub xmlns='{PUBSUB}'><items node='w'/></pubsub>"
    assert error(await iq(bob, "get", SERVICE, get)) == ("cancel", "not-allowed", "closed-node")
    ok(await iq(alice, "set", SERVICE, f"<pubsub xmlns='{OWNER}'><affiliations node='w'>"
                "<affiliation jid='bob@localhost' affiliation='member'/></affiliations></pubsub>"))
    ok(await subscribe(bob, "w"))
    ok(await iq(bob, "get", SERVICE, get))


async def test_presence_node_needs_a_presence_subscription(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "pr", pubsub__access_model="presence"))
    assert error(await subscribe(bob, "pr")) == ("auth", "not-authorized", "presence-subscription-required")
    bob.send_presence(pto="alice@localhost", ptype="subscribe")
    await bob.get_roster()
    alice.send_presence(pto="bob@localhost", ptype="subscribed")
    ok(await alice.get_roster())  # the roster push is past: the subscription is in memory
    from tests.support.waiting import wait_for

    async def subscribed() -> bool:
        return (await subscribe(bob, "pr")).get("type") == "result"
    await wait_for(subscribed, what="bob's subscription to a presence node")


async def test_authorize_flow_asks_the_owner(xmpp):
    alice, bob = await users(xmpp, "alice", "bob")
    ok(await create(alice, "auth", pubsub__access_model="authorize"))
    ok(await publish(alice, "auth", "<n xmlns='urn:t'/>", "first"))
    answer = ok(await subscribe(bob, "auth"))
    sub = answer.find(f".//{q(PUBSUB, 'subscription')}")
    assert sub.get("subscription") == "pending"
    get = f"<pubsub xmlns='{PUBSUB}'><items node='auth'/></pubsub>"
    assert error(await iq(bob, "get", SERVICE, get))[1:] == ("not-authorized", "not-subscribed")
    request = await alice.messages.get()
    x = request.xml.find(q(XDATA, "x"))
    values = {f.get("var"): f.findtext(q(XDATA, "value")) for f in x.findall(q(XDATA, "field"))}
    assert values["FORM_TYPE"] == SUB_AUTH and values["pubsub#node"] == "auth"
    assert values["pubsub#subscriber_jid"] == "bob@localhost/r" and values["pubsub#allow"] == "0"
    reply = alice.make_message(mto=SERVICE)
    reply.xml.append(ET.fromstring(
        f"<x xmlns='{XDATA}' type='submit'><field var='FORM_TYPE'><value>{SUB_AUTH}</value></field>"
        f"<field var='pubsub#subid'><value>{values['pubsub#subid']}</value></field>"
        "<field var='pubsub#node'><value>auth</value></field>"
        "<field var='pubsub#subscriber_jid'><value>bob@localhost/r</value></field>"
        "<field var='pubsub#allow'><value>true</value></field></x>"))
    reply.send()
    state = event_of(await next_event(bob)).find(q(EVENT, "subscription"))
    assert state.get("subscription") == "subscribed" and state.get("node") == "auth"
    last = event_of(await next_event(bob)).find(f".//{q(EVENT, 'item')}")
    assert last.get("id") == "first"
    ok(await iq(bob, "get", SERVICE, get))
