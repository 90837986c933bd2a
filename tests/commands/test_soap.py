"""XEP-0072 SOAP over XMPP: SOAP 1.2 operations on the wire, faults with their XMPP error
mapping (§6), refusals for non-administrators, and the WSDL over HTTP (§3.4), whose schema
validates the requests and responses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import AsyncClient, Client
from lxml import etree

from commands import registry, soap
from tests.clients import connect
from tests.commands.test_adhoc import error_of, q, send_iq
from tests.plugins.wire import raw_login

pytestmark = pytest.mark.django_db(transaction=True)

ENV = "http://www.w3.org/2003/05/soap-envelope"
TNS = "urn:xmppsite:commands"
FAULT_NS = "http://jabber.org/protocol/soap#fault"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS = "http://www.w3.org/2001/XMLSchema"


@pytest.fixture
def admins(settings: Any) -> None:
    settings.XMPP_ADMINS = ["admin@localhost"]


def envelope(operation: str, args: dict[str, Any] | None = None, header: str = "") -> str:
    parts = []
    for name, value in (args or {}).items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"<c:{name}>{item}</c:{name}>")
    return (f"<env:Envelope xmlns:env='{ENV}' xmlns:c='{TNS}'>{header}<env:Body>"
            f"<c:{operation}>{''.join(parts)}</c:{operation}></env:Body></env:Envelope>")


def response_of(reply: etree._Element, operation: str) -> etree._Element:
    assert reply.get("type") == "result", etree.tostring(reply)
    env = reply.find(q(ENV, "Envelope"))
    response = env.find(f"{q(ENV, 'Body')}/{q(TNS, operation + 'Response')}")
    assert response is not None, etree.tostring(reply)
    return response


def fault_of(reply: etree._Element) -> dict[str, Any]:
    """The SOAP fault and the XMPP error around it."""
    assert reply.get("type") == "error", etree.tostring(reply)
    fault = reply.find(f"{q(ENV, 'Envelope')}/{q(ENV, 'Body')}/{q(ENV, 'Fault')}")
    assert fault is not None, etree.tostring(reply)
    error = reply.find(q("jabber:client", "error"))
    return {
        "code": fault.findtext(f"{q(ENV, 'Code')}/{q(ENV, 'Value')}"),
        "subcode": fault.findtext(f"{q(ENV, 'Code')}/{q(ENV, 'Subcode')}/{q(ENV, 'Value')}"),
        "reason": fault.findtext(f"{q(ENV, 'Reason')}/{q(ENV, 'Text')}"),
        "error_type": error.get("type"),
        "conditions": [(etree.QName(c).namespace, etree.QName(c).localname) for c in error],
    }


async def test_operations(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    reply = await send_iq(admin, envelope("register", {"jid": "juliet@localhost", "password": "R0m30"}))
    response = response_of(reply, "register")
    assert len(response) == 0  # no result
    await connect(xmpp, "juliet@localhost", "R0m30")
    response = response_of(await send_iq(admin, envelope("count_users", {"domain": "localhost"})), "count_users")
    assert response.findtext(q(TNS, "result")) == "2"
    response = response_of(await send_iq(admin, envelope("list_online_users")), "list_online_users")
    assert sorted(i.text for i in response.iter(q(TNS, "item"))) == ["admin@localhost", "juliet@localhost"]
    response = response_of(await send_iq(admin, envelope("list_users", {"domain": "localhost"})), "list_users")
    rows = response.findall(f"{q(TNS, 'result')}/{q(TNS, 'row')}")
    assert [r.findtext(q(TNS, "jid")) for r in rows] == ["admin@localhost", "juliet@localhost"]
    assert rows[0].findtext(q(TNS, "active")) == "true"
    assert rows[0].findtext(q(TNS, "created_at")).endswith("Z")
    response = response_of(await send_iq(admin, envelope("user_info", {"jid": "juliet@localhost"})), "user_info")
    assert response.findtext(f"{q(TNS, 'result')}/{q(TNS, 'roster_items')}") == "0"


async def test_faults(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    fault = fault_of(await send_iq(admin, envelope("no_such_operation")))
    assert (fault["code"], fault["subcode"]) == ("env:Sender", "rpc:ProcedureNotPresent")
    assert fault["error_type"] == "modify"
    assert fault["conditions"] == [(STANZAS, "undefined-condition"), (FAULT_NS, "Sender")]
    fault = fault_of(await send_iq(admin, envelope("register", {"jid": "bad jid@", "password": "x"})))
    assert (fault["code"], fault["subcode"]) == ("env:Sender", "rpc:BadArguments")
    assert "jid" in fault["reason"]
    fault = fault_of(await send_iq(admin, envelope("register", {"jid": "admin@localhost", "password": "x"})))
    assert fault["code"] == "env:Sender" and fault["reason"].startswith("conflict: ")
    # slixmpp drops namespaced attributes such as env:mustUnderstand: send these bytes by hand.
    raw = await raw_login(xmpp, "admin", resource="raw")
    must = "<env:Header><t:tx xmlns:t='urn:example:tx' env:mustUnderstand='true'>5</t:tx></env:Header>"
    raw.send(f"<iq type='set' id='mu1' to='localhost'>{envelope('count_users', header=must)}</iq>")
    data = await raw.read_until(rb"</iq>")
    fault = fault_of(etree.fromstring(data[data.index(b"<iq"):]))
    assert fault["code"] == "env:MustUnderstand" and "urn:example:tx" in fault["reason"]
    assert fault["conditions"][1] == (FAULT_NS, "MustUnderstand") and fault["error_type"] == "cancel"
    raw.close()
    optional = "<env:Header><t:tx xmlns:t='urn:example:tx'>5</t:tx></env:Header>"
    assert response_of(await send_iq(admin, envelope("count_users", header=optional)), "count_users") is not None
    fault = fault_of(await send_iq(admin, f"<env:Envelope xmlns:env='{ENV}'><env:Body/></env:Envelope>"))
    assert fault["code"] == "env:Sender" and "no operation" in fault["reason"]
    soap11 = ("<e:Envelope xmlns:e='http://schemas.xmlsoap.org/soap/envelope/'><e:Body>"
              f"<c:count_users xmlns:c='{TNS}'/></e:Body></e:Envelope>")
    reply = await send_iq(admin, soap11)
    fault = fault_of(reply)
    assert fault["code"] == "env:VersionMismatch"
    upgrade = reply.find(f".//{q(ENV, 'Upgrade')}/{q(ENV, 'SupportedEnvelope')}")
    assert upgrade.get("qname") == "env:Envelope"


async def test_users_run_the_operations_on_their_own_account(xmpp: Any, admins: None) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await xmpp.add_user("alice")
    for operation, args in (("count_users", {}), ("user_info", {"jid": "alice@localhost"}),
                            ("roster_get", {"jid": "alice@localhost"})):
        reply = await send_iq(bob, envelope(operation, args))
        assert error_of(reply)[:2] == ("auth", "forbidden")
        assert reply.find(q(ENV, "Envelope")) is None  # a transport-level refusal, not a SOAP fault
    add = {"jid": "bob@localhost", "contact": "juliet@example.net", "name": "Juliet"}
    assert len(response_of(await send_iq(bob, envelope("roster_add", add)), "roster_add")) == 0
    roster = await send_iq(bob, "<query xmlns='jabber:iq:roster'/>", to=None, type_="get")
    assert [i.get("jid") for i in roster.iter(q("jabber:iq:roster", "item"))] == ["juliet@example.net"]
    response = response_of(await send_iq(bob, envelope("roster_get")), "roster_get")  # one's own roster
    rows = response.findall(f"{q(TNS, 'result')}/{q(TNS, 'row')}")
    assert [(r.findtext(q(TNS, "jid")), r.findtext(q(TNS, "name"))) for r in rows] == [("juliet@example.net", "Juliet")]
    info = response_of(await send_iq(bob, envelope("user_info")), "user_info")
    assert info.findtext(f"{q(TNS, 'result')}/{q(TNS, 'roster_items')}") == "1"


async def test_disco_advertises_soap(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    info = "http://jabber.org/protocol/disco#info"
    reply = await send_iq(admin, f"<query xmlns='{info}'/>", type_="get")
    assert "http://jabber.org/protocol/soap" in [f.get("var") for f in reply.iter(q(info, "feature"))]
    assert ("automation", "soap") in [(i.get("category"), i.get("type")) for i in reply.iter(q(info, "identity"))]


# -- the WSDL (§3.4) ----------------------------------------------------------------------------

async def fetch_wsdl() -> etree._Element:
    response = await AsyncClient().get("/api/soap.wsdl")
    assert response.status_code == 200
    return etree.fromstring(response.content)


def schema_of(wsdl: etree._Element) -> etree.XMLSchema:
    schema = wsdl.find(f"{q(WSDL, 'types')}/{q(XS, 'schema')}")
    return etree.XMLSchema(copy.deepcopy(schema))


def test_wsdl_over_http(settings: Any) -> None:
    settings.XMPP_DOMAINS = ["localhost", "example.org"]
    settings.ALLOWED_HOSTS = ["localhost", "example.org"]
    response = Client(HTTP_HOST="localhost").get("/api/soap.wsdl")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/wsdl+xml; charset=utf-8"
    wsdl = etree.fromstring(response.content)
    assert wsdl.tag == q(WSDL, "definitions") and wsdl.get("targetNamespace") == TNS
    binding = wsdl.find(f"{q(WSDL, 'binding')}/{q(SOAP12, 'binding')}")
    assert binding.get("transport") == "http://jabber.org/protocol/soap"  # §3.4 rule 1
    assert binding.get("style") == "document"  # rule 2
    address = wsdl.find(f"{q(WSDL, 'service')}/{q(WSDL, 'port')}/{q(SOAP12, 'address')}")
    assert address.get("location") == "xmpp:localhost"  # rule 4: an XMPP URI
    operations = {op.get("name") for op in wsdl.find(q(WSDL, "portType")).findall(q(WSDL, "operation"))}
    assert operations == {c.name for c in registry.all_commands()}
    elements = {e.get("name"): e for e in wsdl.find(f"{q(WSDL, 'types')}/{q(XS, 'schema')}")}
    register = elements["register"]
    assert [e.get("name") for e in register.iter(q(XS, "element")) if e is not register] == ["jid", "password"]
    subject = [e for e in elements["send_message"].iter(q(XS, "element")) if e.get("name") == "subject"][0]
    assert subject.get("minOccurs") == "0"
    other = etree.fromstring(Client(HTTP_HOST="example.org").get("/api/soap.wsdl").content)
    assert other.find(f".//{q(SOAP12, 'address')}").get("location") == "xmpp:example.org"
    assert Client(HTTP_HOST="localhost").post("/api/soap.wsdl").status_code == 405


async def test_wsdl_schema_validates_what_goes_over_the_wire(xmpp: Any, admins: None) -> None:
    schema = schema_of(await fetch_wsdl())
    request = etree.fromstring(envelope("register", {"jid": "juliet@localhost", "password": "pw"}))
    assert schema.validate(request.find(f"{q(ENV, 'Body')}/{q(TNS, 'register')}")), schema.error_log
    bad = etree.fromstring(envelope("register", {"password": "pw"}))
    assert not schema.validate(bad.find(f"{q(ENV, 'Body')}/{q(TNS, 'register')}"))
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    for operation, args in (("list_users", {}), ("count_users", {}), ("user_info", {"jid": "admin@localhost"}),
                            ("list_online_users", {}), ("register", {"jid": "x@localhost", "password": "p"})):
        response = response_of(await send_iq(admin, envelope(operation, args)), operation)
        assert schema.validate(response), (operation, schema.error_log)


def test_response_element_shapes() -> None:
    cmd = registry.get("list_online_users")
    el = soap.response_element(cmd, ["a@x", "b@x"])
    assert [i.text for i in el.iter(q(TNS, "item"))] == ["a@x", "b@x"]
    el = soap.response_element(registry.get("user_info"), {"jid": "a@x", "active": True, "groups": ["g1", "g2"]})
    result = el.find(q(TNS, "result"))
    assert result.findtext(q(TNS, "active")) == "true"
    assert [g.text for g in result.findall(q(TNS, "groups"))] == ["g1", "g2"]
