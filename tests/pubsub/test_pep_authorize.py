"""XEP-0060 §8.6 on PEP (XEP-0163): an account's authorize node asks the owner, who answers
with the subscribe_authorization form sent from its resource to its own bare JID."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.pubsub.helpers import (EVENT, PUBSUB, XDATA, accounts, create, error, event_of, iq, login,
                                  next_event, ok, publish, q, subscribe)
from tests.support.quiet import nothing_more

SUB_AUTH = "http://jabber.org/protocol/pubsub#subscribe_authorization"
ALICE = "alice@localhost"
NODE = "urn:example:diary"


async def _pending(xmpp) -> tuple:
    await accounts(xmpp, "alice", "bob")
    alice = await login(xmpp, "alice")
    bob = await login(xmpp, "bob")
    ok(await create(alice, NODE, to=ALICE, pubsub__access_model="authorize"))
    ok(await publish(alice, NODE, "<entry xmlns='urn:example'>hello</entry>", "first", to=ALICE))
    answer = ok(await subscribe(bob, NODE, to=ALICE))
    assert answer.find(f".//{q(PUBSUB, 'subscription')}").get("subscription") == "pending"
    request = await alice.messages.get()
    assert request["from"] == ALICE and request["to"].bare == ALICE
    x = request.xml.find(q(XDATA, "x"))
    values = {f.get("var"): f.findtext(q(XDATA, "value")) for f in x.findall(q(XDATA, "field"))}
    assert values["FORM_TYPE"] == SUB_AUTH and values["pubsub#node"] == NODE
    assert values["pubsub#subscriber_jid"] == "bob@localhost/r"
    return alice, bob, values


def _answer(alice, values: dict, allow: str) -> None:
    reply = alice.make_message(mto=ALICE)
    reply.xml.append(ET.fromstring(
        f"<x xmlns='{XDATA}' type='submit'><field var='FORM_TYPE'><value>{SUB_AUTH}</value></field>"
        f"<field var='pubsub#subid'><value>{values['pubsub#subid']}</value></field>"
        f"<field var='pubsub#node'><value>{NODE}</value></field>"
        "<field var='pubsub#subscriber_jid'><value>bob@localhost/r</value></field>"
        f"<field var='pubsub#allow'><value>{allow}</value></field></x>"))
    reply.send()


async def test_owner_approves_on_its_bare_jid(xmpp):
    alice, bob, values = await _pending(xmpp)
    _answer(alice, values, "1")
    message = await next_event(bob)
    assert message["from"] == ALICE
    state = event_of(message).find(q(EVENT, "subscription"))
    assert (state.get("node"), state.get("jid"), state.get("subscription")) == (NODE, "bob@localhost/r", "subscribed")
    assert state.get("subid") == values["pubsub#subid"]
    last = event_of(await next_event(bob)).find(f"{q(EVENT, 'items')}/{q(EVENT, 'item')}")
    assert last.get("id") == "first" and last.find("{urn:example}entry").text == "hello"
    items = ok(await iq(bob, "get", ALICE, f"<pubsub xmlns='{PUBSUB}'><items node='{NODE}'/></pubsub>"))
    assert [i.get("id") for i in items.iter(q(PUBSUB, "item"))] == ["first"]
    await nothing_more(alice, alice.messages)  # the answer was taken, not delivered back to alice


async def test_owner_denies_on_its_bare_jid(xmpp):
    alice, bob, values = await _pending(xmpp)
    _answer(alice, values, "0")
    state = event_of(await next_event(bob)).find(q(EVENT, "subscription"))
    assert (state.get("node"), state.get("subscription")) == (NODE, "none")
    assert state.get("subid") is None
    get = f"<pubsub xmlns='{PUBSUB}'><items node='{NODE}'/></pubsub>"
    assert error(await iq(bob, "get", ALICE, get))[1:] == ("not-authorized", "not-subscribed")
    await nothing_more(bob, bob.messages)


async def test_someone_else_cannot_answer_for_the_owner(xmpp):
    alice, bob, values = await _pending(xmpp)
    forged = bob.make_message(mto=ALICE)
    forged.xml.append(ET.fromstring(
        f"<x xmlns='{XDATA}' type='submit'><field var='FORM_TYPE'><value>{SUB_AUTH}</value></field>"
        f"<field var='pubsub#subid'><value>{values['pubsub#subid']}</value></field>"
        f"<field var='pubsub#node'><value>{NODE}</value></field>"
        "<field var='pubsub#allow'><value>1</value></field></x>"))
    forged.send()
    delivered = await alice.messages.get()  # an ordinary message to alice, not an answer
    assert delivered["from"] == "bob@localhost/r"
    get = f"<pubsub xmlns='{PUBSUB}'><items node='{NODE}'/></pubsub>"
    assert error(await iq(bob, "get", ALICE, get))[1:] == ("not-authorized", "not-subscribed")
