"""Hosts and components on the wire (xmppd/hosts.py): a test component answers disco and
IQs on its own address, the domain lists it, its stanzas never reach user delivery; the
sender's side (pre-events) runs before the receiver's, with a typed origin; `send_iq`."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest

from tests.clients import connect
from tests.plugins.wire import error_condition, iq_get, q, raw_login
from tests.support.waiting import wait_for
from tests.xmppd import echo_component
from xmppd.server import DEFAULT_COMPONENTS

pytestmark = pytest.mark.django_db(transaction=True)

INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
CLIENT = "jabber:client"
ECHO = echo_component.ECHO


async def component_server(make_server, template: str = "test.{domain}"):
    srv = await make_server(components={**DEFAULT_COMPONENTS, "test": template})
    srv.server.load(["tests.xmppd.echo_component"])
    echo_component.SEEN.clear()
    return srv


async def test_the_domain_lists_its_component_hosts(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{ITEMS}'/>")
    items = [(i.get("jid"), i.get("name")) for i in reply.find(q(ITEMS, "query")).findall(q(ITEMS, "item"))]
    assert ("test.localhost", "Echo service") in items
    assert all(jid != "test.example.org" for jid, _ in items)  # another domain's component
    other = await iq_get(alice, "example.org", f"<query xmlns='{ITEMS}'/>")
    assert "test.example.org" in [i.get("jid") for i in other.iter(q(ITEMS, "item"))]


async def test_a_component_answers_disco_info_with_its_own_identity_and_features(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    reply = await iq_get(alice, "test.localhost", f"<query xmlns='{INFO}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "test.localhost"
    query = reply.find(q(INFO, "query"))
    identities = [(i.get("category"), i.get("type"), i.get("name")) for i in query.findall(q(INFO, "identity"))]
    assert identities == [("component", "generic", "Echo service")]
    features = {f.get("var") for f in query.findall(q(INFO, "feature"))}
    assert {ECHO, INFO, ITEMS} <= features
    assert "urn:xmpp:carbons:2" not in features and "jabber:iq:roster" not in features  # user-host features
    server_info = await iq_get(alice, "localhost", f"<query xmlns='{INFO}'/>")
    assert ECHO not in {f.get("var") for f in server_info.iter(q(INFO, "feature"))}


async def test_a_component_answers_an_iq_and_refuses_what_it_does_not_serve(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    reply = await iq_get(alice, "test.localhost", f"<echo xmlns='{ECHO}'><word>hi</word></echo>")
    assert reply.get("type") == "result" and reply.get("from") == "test.localhost"
    assert reply.find(f"{q(ECHO, 'echo')}/{q(ECHO, 'word')}").text == "hi"
    on_entity = await iq_get(alice, "room@test.localhost", f"<echo xmlns='{ECHO}'/>")
    assert on_entity.get("type") == "result" and on_entity.get("from") == "room@test.localhost"
    refused = await iq_get(alice, "test.localhost", "<query xmlns='jabber:iq:roster'/>")
    assert error_condition(refused) == ("cancel", "service-unavailable")
    assert refused.get("from") == "test.localhost"


async def test_messages_to_a_component_reach_it_not_user_delivery(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    alice.send_message(mto="room@test.localhost", mbody="ping me back", mtype="chat")
    echoed = await alice.next_message()
    assert echoed.xml.get("from") == "room@test.localhost" and echoed.xml.get("type") == "chat"
    assert echoed.xml.findtext(q(CLIENT, "body")) == "ping me back"
    # The sender's side ran first, on the user host, then the component's own event; both
    # saw a client origin.
    assert echo_component.SEEN[:2] == [("(sender side)", "pre-message/bare", "client"),
                                       ("test.localhost", "message/bare", "client")]
    from offline.models import OfflineMessage  # nothing stored for a "user" room@test

    assert not await asyncio.to_thread(lambda: OfflineMessage.objects.exists())


async def test_a_service_turned_off_is_no_host(make_server) -> None:
    srv = await component_server(make_server, template="")
    assert "test.localhost" not in srv.server.hosts
    alice = await connect(srv, await srv.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<query xmlns='{ITEMS}'/>")
    assert "test.localhost" not in [i.get("jid") for i in reply.iter(q(ITEMS, "item"))]
    refused = await iq_get(alice, "test.localhost", f"<echo xmlns='{ECHO}'/>")
    assert error_condition(refused) == ("cancel", "remote-server-not-found")


async def test_directed_presence_to_a_component_gets_unavailable_when_the_user_leaves(make_server) -> None:
    srv = await component_server(make_server)
    await srv.add_user("alice")
    raw = await raw_login(srv, "alice", resource="desk")
    raw.send("<presence/>")
    raw.send("<presence to='room@test.localhost/alice'/>")
    raw.send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
    await raw.read_until(rb"id=.sync.")
    raw.close()  # the connection goes: the room must hear 'unavailable' from the server
    await wait_for(lambda: ("test.localhost", "presence/full", "server") in echo_component.SEEN,
                   what="the room hearing 'unavailable'")
    kinds = [(event, origin) for host, event, origin in echo_component.SEEN if host == "test.localhost"]
    assert kinds == [("presence/full", "client"), ("presence/full", "server")]


async def test_send_iq_resolves_with_the_answer_or_an_error(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    from lxml import etree

    from xmppcore.errors import StanzaError
    from xmppcore.stanza import make

    router = srv.server.router
    iq = make("iq", type_="get", to=alice.boundjid.full, from_="test.localhost")
    etree.SubElement(iq, "{urn:xmpp:ping}ping")
    answer = await asyncio.wait_for(router.send_iq(iq, timeout=5), 6)
    assert answer.get("type") == "result" and answer.get("from") == alice.boundjid.full
    gone = make("iq", type_="get", to="alice@localhost/nobody", from_="test.localhost")
    etree.SubElement(gone, "{urn:xmpp:ping}ping")
    with pytest.raises(StanzaError) as err:
        await asyncio.wait_for(router.send_iq(gone, timeout=5), 6)
    assert err.value.condition == "service-unavailable"
    assert not router._pending  # nothing left behind


async def test_send_iq_times_out_when_nobody_answers(make_server) -> None:
    srv = await component_server(make_server)
    await srv.add_user("bob")
    raw = await raw_login(srv, "bob", resource="mute")
    from lxml import etree

    from xmppcore.errors import StanzaError
    from xmppcore.stanza import make

    iq = make("iq", type_="get", to="bob@localhost/mute", from_="test.localhost")
    etree.SubElement(iq, "{urn:xmpp:ping}ping")
    with pytest.raises(StanzaError) as err:
        await srv.server.router.send_iq(iq, timeout=0.3)
    assert err.value.condition == "remote-server-timeout"
    assert b"urn:xmpp:ping" in await raw.read_until(rb"urn:xmpp:ping")  # it did go out


async def test_the_certificate_names_every_component_host(make_server) -> None:
    import ssl

    from cryptography import x509

    srv = await component_server(make_server)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(srv.host, srv.tls_port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    for name in ("localhost", "conference.localhost", "pubsub.example.org", "test.localhost"):
        assert name in names, names


async def test_an_entity_on_a_component_is_described_by_its_modules_or_does_not_exist(make_server) -> None:
    srv = await component_server(make_server)
    alice = await connect(srv, await srv.add_user("alice"))
    unknown = await iq_get(alice, "nobody@test.localhost", f"<query xmlns='{INFO}'/>")
    assert error_condition(unknown) == ("cancel", "service-unavailable")
    assert unknown.get("from") == "nobody@test.localhost"
    host = srv.server.hosts["test.localhost"]

    def describe(stanza, query) -> None:
        from lxml import etree

        etree.SubElement(query, f"{{{INFO}}}identity", category="conference", type="text", name="Room")

    host.hooks.add("disco/info/bare", describe)
    known = await iq_get(alice, "room@test.localhost", f"<query xmlns='{INFO}'/>")
    assert [(i.get("category"), i.get("type")) for i in known.iter(q(INFO, "identity"))] == [("conference", "text")]
    items = await iq_get(alice, "room@test.localhost", f"<query xmlns='{ITEMS}'/>")
    assert items.get("type") == "result" and not list(items.iter(q(ITEMS, "item")))
