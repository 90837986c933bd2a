"""XEP-0030 / XEP-0128 on the wire: the domain, users' bare JIDs, nodes, extension hooks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from lxml import etree
from slixmpp.exceptions import IqError

from tests.clients import connect
from tests.plugins.wire import error_condition, iq_get, q
from xmppd.server import DEFAULT_COMPONENTS

pytestmark = pytest.mark.django_db(transaction=True)

INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
DATA = "jabber:x:data"


def features(query: ET.Element) -> list[str]:
    return [f.get("var") for f in query.findall(q(INFO, "feature"))]


# XEP-0030 §3.1 the account; XEP-0163 §6 PEP (pubsub.xmpp, loaded by default).
ACCOUNT_IDENTITIES = [("account", "registered", None), ("pubsub", "pep", None)]


def identities(query: ET.Element) -> list[tuple[str | None, str | None, str | None]]:
    return [(i.get("category"), i.get("type"), i.get("name")) for i in query.findall(q(INFO, "identity"))]


def allow_everyone(state: str = "both"):
    """A stand-in for the rosters module's answer, ahead of it."""
    def subscription(owner, contact):
        return state
    return subscription


async def test_info_of_the_domain(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{INFO}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "localhost"
    assert reply.get("to") == str(alice.boundjid)
    query = reply.find(q(INFO, "query"))
    assert query is not None and query.get("node") is None
    assert ("server", "im", "xmppsite") in identities(query)
    found = features(query)
    assert len(found) == len(set(found)), found  # §3.1: each feature once
    for var in (INFO, ITEMS, "urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time",
                "jabber:iq:last", "msgoffline"):
        assert var in found, var
    assert set(found) == set(xmpp.server.features)


async def test_slixmpp_reads_the_domain_info(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    info = await alice["xep_0030"].get_info(jid="localhost", timeout=5)
    assert "urn:xmpp:ping" in info["disco_info"]["features"]
    assert ("server", "im", None, "xmppsite") in info["disco_info"]["identities"]


async def test_info_without_to_is_the_servers(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, None, f"<query xmlns='{INFO}'/>")
    assert reply.get("type") == "result"
    assert ("server", "im", "xmppsite") in identities(reply.find(q(INFO, "query")))


async def test_items_of_the_domain_empty_then_from_a_hook(make_server) -> None:
    xmpp = await make_server(components={service: "" for service in DEFAULT_COMPONENTS})  # no services
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{ITEMS}'/>")
    assert reply.get("type") == "result"
    query = reply.find(q(ITEMS, "query"))
    assert query is not None
    # Only the component hosts the loaded modules claimed (the pubsub service) are listed.
    services = [(i.get("jid"), i.get("name")) for i in query]
    assert services == [(h.name, h.identities[0].name) for h in xmpp.server.hosts.components("localhost")]

    def add_item(stanza, query):
        etree.SubElement(query, f"{{{ITEMS}}}item", jid=f"conference.{stanza.to.domain}", name="Rooms")

    xmpp.server.hooks.add("disco/items/host", add_item)
    reply = await iq_get(alice, "localhost", f"<query xmlns='{ITEMS}'/>")
    items = reply.find(q(ITEMS, "query")).findall(q(ITEMS, "item"))
    assert [(i.get("jid"), i.get("name")) for i in items] == [*services, ("conference.localhost", "Rooms")]


async def test_extended_info_form_after_the_features(xmpp) -> None:
    """XEP-0128: a module appends a data form to the domain's disco#info."""
    def add_form(stanza, query):
        x = etree.SubElement(query, f"{{{DATA}}}x", nsmap={None: DATA}, type="result")
        hidden = etree.SubElement(x, f"{{{DATA}}}field", var="FORM_TYPE", type="hidden")
        etree.SubElement(hidden, f"{{{DATA}}}value").text = "http://jabber.org/network/serverinfo"
        field = etree.SubElement(x, f"{{{DATA}}}field", var="admin-addresses")
        etree.SubElement(field, f"{{{DATA}}}value").text = "xmpp:admin@localhost"

    xmpp.server.hooks.add("disco/info/host", add_form)
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{INFO}'/>")
    query = reply.find(q(INFO, "query"))
    tags = [child.tag for child in query]
    assert tags[-1] == q(DATA, "x")
    assert tags.index(q(DATA, "x")) > max(i for i, t in enumerate(tags) if t == q(INFO, "feature"))
    x = query.find(q(DATA, "x"))
    assert x.get("type") == "result"
    values = {f.get("var"): f.findtext(q(DATA, "value")) for f in x.findall(q(DATA, "field"))}
    assert values == {"FORM_TYPE": "http://jabber.org/network/serverinfo",
                      "admin-addresses": "xmpp:admin@localhost"}


async def test_unknown_node_is_item_not_found(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    for namespace in (INFO, ITEMS):
        reply = await iq_get(alice, "localhost", f"<query xmlns='{namespace}' node='nope'/>")
        assert error_condition(reply) == ("cancel", "item-not-found"), namespace


async def test_known_node_answered_by_its_module_with_the_node_mirrored(xmpp) -> None:
    node = "urn:example:tests:node"

    def node_info(stanza, query):
        if query.get("node") != node:
            return None
        etree.SubElement(query, f"{{{INFO}}}identity", category="hierarchy", type="leaf")
        return True

    xmpp.server.hooks.add("disco/info/host/node", node_info)
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{INFO}' node='{node}'/>")
    assert reply.get("type") == "result"
    query = reply.find(q(INFO, "query"))
    assert query.get("node") == node  # §3.2: the node is mirrored
    assert identities(query) == [("hierarchy", "leaf", None)]
    other = await iq_get(alice, "localhost", f"<query xmlns='{INFO}' node='other'/>")
    assert error_condition(other) == ("cancel", "item-not-found")


async def test_info_of_own_bare_jid_is_the_account(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "alice@localhost", f"<query xmlns='{INFO}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "alice@localhost"
    query = reply.find(q(INFO, "query"))
    assert identities(query) == ACCOUNT_IDENTITIES
    assert INFO in features(query)


async def test_info_of_a_bare_jid_needs_a_presence_subscription(xmpp) -> None:
    """§8 rule 1: service-unavailable unless the owner lets the requester see its presence."""
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    reply = await iq_get(alice, "bob@localhost", f"<query xmlns='{INFO}'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")

    seen: list[tuple[str, str]] = []

    def subscription(owner, contact):
        seen.append((str(owner), str(contact)))
        return "from"

    xmpp.server.hooks.add("roster/subscription", subscription, 100)
    reply = await iq_get(alice, "bob@localhost", f"<query xmlns='{INFO}'/>")
    assert reply.get("type") == "result"
    assert identities(reply.find(q(INFO, "query"))) == ACCOUNT_IDENTITIES
    assert seen[-1] == ("bob@localhost", "alice@localhost")  # bob's roster, alice's entry


async def test_a_to_subscription_is_not_enough(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    xmpp.server.hooks.add("roster/subscription", allow_everyone("to"), 100)
    reply = await iq_get(alice, "bob@localhost", f"<query xmlns='{INFO}'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")


async def test_info_of_a_missing_account_is_service_unavailable(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    xmpp.server.hooks.add("roster/subscription", allow_everyone(), 100)
    reply = await iq_get(alice, "ghost@localhost", f"<query xmlns='{INFO}'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")
    reply = await iq_get(alice, "ghost@localhost", f"<query xmlns='{INFO}' node='x'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")


async def test_items_of_bare_jids_are_empty_even_for_missing_accounts(xmpp) -> None:
    """§8 rule 2: an empty result, never an error that would reveal whether it exists."""
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    for target in ("bob@localhost", "ghost@localhost", "alice@localhost"):
        reply = await iq_get(alice, target, f"<query xmlns='{ITEMS}'/>")
        assert reply.get("type") == "result", target
        assert len(reply.find(q(ITEMS, "query"))) == 0


async def test_items_of_a_bare_jid_from_a_hook_only_for_existing_accounts(xmpp) -> None:
    def pep_nodes(stanza, query):
        etree.SubElement(query, f"{{{ITEMS}}}item", jid=str(stanza.to), node="urn:xmpp:avatar:data")

    xmpp.server.hooks.add("disco/items/bare", pep_nodes)
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    reply = await iq_get(alice, "bob@localhost", f"<query xmlns='{ITEMS}'/>")
    items = reply.find(q(ITEMS, "query")).findall(q(ITEMS, "item"))
    assert [(i.get("jid"), i.get("node")) for i in items] == [("bob@localhost", "urn:xmpp:avatar:data")]
    reply = await iq_get(alice, "ghost@localhost", f"<query xmlns='{ITEMS}'/>")
    assert len(reply.find(q(ITEMS, "query"))) == 0


async def test_disco_set_is_not_supported(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    iq = alice.make_iq_set(ito="localhost")
    iq.xml.append(ET.fromstring(f"<query xmlns='{INFO}'/>"))
    with pytest.raises(IqError) as err:
        await iq.send(timeout=5)
    assert error_condition(err.value.iq.xml) == ("cancel", "service-unavailable")
