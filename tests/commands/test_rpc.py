"""XEP-0009 Jabber-RPC over the registry: XML-RPC calls on the wire, checked with the standard
library's XML-RPC codec (xmlrpc.client), faults, and refusals for non-administrators."""

from __future__ import annotations

import xmlrpc.client
from datetime import datetime, timezone
from typing import Any

import pytest
from lxml import etree

from commands import rpc
from commands.permissions import actor_for_jid, may_use
from tests.clients import connect
from xmppcore.jid import JID
from tests.commands.test_adhoc import error_of, q, send_iq

pytestmark = pytest.mark.django_db(transaction=True)

RPC = "jabber:iq:rpc"
INFO = "http://jabber.org/protocol/disco#info"


@pytest.fixture
def admins(settings: Any) -> None:
    settings.XMPP_ADMINS = ["admin@localhost"]
    settings.XMPP_DOMAIN_ADMINS = "example.org=dadmin@example.org"


def method_call(name: str, *params: Any) -> str:
    """A <query xmlns='jabber:iq:rpc'> around what xmlrpc.client would POST (§2: no XML declaration)."""
    body = xmlrpc.client.dumps(params, methodname=name, allow_none=True)
    body = body.split("?>", 1)[1] if body.startswith("<?xml") else body
    return f"<query xmlns='{RPC}'>{body}</query>"


async def call(client: Any, name: str, *params: Any, to: str = "localhost") -> Any:
    """The decoded result; xmlrpc.client.Fault for a fault; the error IQ for a stanza error."""
    reply = await send_iq(client, method_call(name, *params), to=to)
    if reply.get("type") == "error":
        return reply
    query = reply.find(q(RPC, "query"))
    response = query.find(q(RPC, "methodResponse"))
    assert response is not None, etree.tostring(reply)
    try:
        (value,), _ = xmlrpc.client.loads(etree.tostring(response), use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return fault
    return value


async def test_calls_with_positional_and_named_params(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    assert await call(admin, "register", "juliet@localhost", "R0m30") is True
    juliet = await connect(xmpp, "juliet@localhost", "R0m30")
    assert await call(admin, "count_users", {"domain": "localhost"}) == 2
    assert await call(admin, "count_users") == 2
    online = await call(admin, "list_online_users", "localhost")
    assert sorted(online) == ["admin@localhost", "juliet@localhost"] and juliet is not None
    rows = await call(admin, "list_users", {"domain": "localhost"})
    assert [r["jid"] for r in rows] == ["admin@localhost", "juliet@localhost"]
    assert rows[0]["active"] is True
    assert isinstance(rows[0]["created_at"], datetime)  # dateTime.iso8601 on the wire
    assert rows[0]["last_logout_at"] is None  # <nil/>
    info = await call(admin, "user_info", {"jid": "juliet@localhost"})
    assert info["jid"] == "juliet@localhost" and info["roster_items"] == 0


async def test_faults(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    fault = await call(admin, "no_such_method")
    assert isinstance(fault, xmlrpc.client.Fault) and fault.faultCode == rpc.METHOD_NOT_FOUND
    fault = await call(admin, "register", "not a jid@", "pw")
    assert fault.faultCode == rpc.INVALID_PARAMS and fault.faultString.startswith("bad-request: ")
    assert "jid" in fault.faultString
    fault = await call(admin, "count_users", "localhost", "extra")
    assert fault.faultCode == rpc.INVALID_PARAMS and "at most 1" in fault.faultString
    fault = await call(admin, "register", "admin@localhost", "pw")
    assert fault.faultCode == rpc.APPLICATION_ERROR and fault.faultString.startswith("conflict: ")
    fault = await call(admin, "unregister", "ghost@localhost")
    assert fault.faultCode == rpc.APPLICATION_ERROR and fault.faultString.startswith("not-found: ")


async def test_fault_on_the_wire_and_malformed_calls(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    reply = await send_iq(admin, method_call("no_such_method"))
    assert reply.get("type") == "result"  # §2: application errors travel in the payload
    fault = reply.find(f"{q(RPC, 'query')}/{q(RPC, 'methodResponse')}/{q(RPC, 'fault')}")
    members = {m.findtext(q(RPC, "name")): m.find(q(RPC, "value"))[0] for m in fault.iter(q(RPC, "member"))}
    assert etree.QName(members["faultCode"]).localname == "int"
    assert members["faultCode"].text == str(rpc.METHOD_NOT_FOUND)
    assert etree.QName(members["faultString"]).localname == "string"
    reply = await send_iq(admin, f"<query xmlns='{RPC}'/>")
    response = reply.find(f"{q(RPC, 'query')}/{q(RPC, 'methodResponse')}")
    (value,) = [v for v in response.iter(q(RPC, "value")) if v.getparent().tag == q(RPC, "member")
                and v.getparent().findtext(q(RPC, "name")) == "faultCode"]
    assert value.findtext(q(RPC, "int")) == str(rpc.INVALID_REQUEST)
    bad_value = (f"<query xmlns='{RPC}'><methodCall><methodName>count_users</methodName><params><param>"
                 "<value><boolean>maybe</boolean></value></param></params></methodCall></query>")
    reply = await send_iq(admin, bad_value)
    assert str(rpc.INVALID_PARAMS) in etree.tostring(reply).decode()


async def test_introspection(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    methods = await call(admin, "system.listMethods")
    assert "register" in methods and "stats" in methods and "system.methodHelp" in methods
    help_text = await call(admin, "system.methodHelp", "register")
    assert help_text.startswith("Create an account.") and "jid: jid" in help_text


ROSTER = "jabber:iq:roster"
# What the registry marks as runnable by a user on their own account.
OWN_ACCOUNT = {"change_password", "user_info", "user_sessions", "export_user", "roster_get", "roster_add",
               "roster_remove", "task_status", "task_cancel", "list_tasks", "vcard_get", "vcard_set"}
VCARD = "vcard-temp"


async def roster_jids(client: Any) -> list[str]:
    """The client's own roster, asked on the wire (RFC 6121 §2.1.3)."""
    reply = await send_iq(client, f"<query xmlns='{ROSTER}'/>", to=None, type_="get")
    return sorted(i.get("jid") for i in reply.iter(q(ROSTER, "item")))


async def test_users_call_the_commands_on_their_own_account(xmpp: Any, admins: None) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await xmpp.add_user("alice")
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    mine = set(await call(bob, "system.listMethods"))
    everything = set(await call(admin, "system.listMethods"))
    assert mine - {"system.listMethods", "system.methodHelp"} == OWN_ACCOUNT
    assert mine < everything and {"count_users", "stats", "register"} <= everything - mine
    # An administrator's command: a refusal (§5), listed or not.
    for name, params in (("count_users", ()), ("stats", ()), ("register", ("eve@localhost", "pw"))):
        assert error_of(await call(bob, name, *params))[:2] == ("auth", "forbidden")
    assert (await call(bob, "system.methodHelp", "stats")).faultCode == rpc.METHOD_NOT_FOUND
    assert (await call(bob, "system.methodHelp", "roster_get")).startswith("A user's roster.")
    # Another user's account: refused; one's own: done, and seen on the wire.
    assert error_of(await call(bob, "user_info", "alice@localhost"))[:2] == ("auth", "forbidden")
    assert error_of(await call(bob, "roster_add", "alice@localhost", "romeo@example.net"))[:2] == ("auth", "forbidden")
    assert await call(bob, "roster_add", "bob@localhost", "juliet@example.net", "Juliet") is True
    assert await roster_jids(bob) == ["juliet@example.net"]
    rows = await call(bob, "roster_get")  # the account argument left out: the caller's own
    assert [(r["jid"], r["name"]) for r in rows] == [("juliet@example.net", "Juliet")]
    assert await call(bob, "roster_remove", {"contact": "juliet@example.net"}) is True
    assert await roster_jids(bob) == []
    assert (await call(bob, "user_info"))["jid"] == "bob@localhost"
    assert await call(bob, "vcard_get") == ""
    card = f"<vCard xmlns='{VCARD}'><FN>Bob Builder</FN></vCard>"
    assert await call(bob, "vcard_set", {"vcard": card}) is True
    own = await send_iq(bob, f"<vCard xmlns='{VCARD}'/>", to=None, type_="get")  # XEP-0054 §3.1
    assert own.findtext(f"{q(VCARD, 'vCard')}/{q(VCARD, 'FN')}") == "Bob Builder"
    assert error_of(await call(bob, "vcard_set", "alice@localhost", card))[:2] == ("auth", "forbidden")
    fault = await call(bob, "vcard_set", {"vcard": "<vCard/>"})
    assert fault.faultCode == rpc.INVALID_PARAMS and "vcard-temp" in fault.faultString
    assert await call(bob, "change_password", {"password": "N3w-secret"}) is True
    assert await connect(xmpp, "bob@localhost", "N3w-secret") is not None


async def test_domain_admins_and_strangers(xmpp: Any, admins: None) -> None:
    # A domain administrator may call, but only on their domain.
    dadmin = await connect(xmpp, await xmpp.add_user("dadmin", domain="example.org"))
    assert await call(dadmin, "count_users", "example.org", to="example.org") == 1
    reply = await call(dadmin, "count_users", "localhost", to="example.org")
    assert error_of(reply)[:2] == ("auth", "forbidden")
    reply = await call(dadmin, "stats", to="example.org")
    assert error_of(reply)[:2] == ("auth", "forbidden")
    methods = await call(dadmin, "system.listMethods", to="example.org")
    assert "count_users" in methods and "stats" not in methods
    # An entity that is not a user of a hosted domain may not use Jabber-RPC at all.
    assert not may_use(actor_for_jid(JID.parse("mallory@elsewhere.example")), ["localhost"])
    assert may_use(actor_for_jid(JID.parse("bob@localhost")), ["localhost"])


async def test_disco_advertises_jabber_rpc(xmpp: Any, admins: None) -> None:
    admin = await connect(xmpp, await xmpp.add_user("admin"))
    reply = await send_iq(admin, f"<query xmlns='{INFO}'/>", type_="get")
    query = reply.find(q(INFO, "query"))
    assert RPC in [f.get("var") for f in query.iter(q(INFO, "feature"))]
    assert ("automation", "rpc") in [(i.get("category"), i.get("type")) for i in query.iter(q(INFO, "identity"))]


# -- the codec, without a server ---------------------------------------------------------------

def _value(text: str) -> etree._Element:
    return etree.fromstring(f"<value xmlns='{RPC}'>{text}</value>")


@pytest.mark.parametrize("text,expected", [
    ("<i4>-7</i4>", -7), ("<int>42</int>", 42), ("<i8>9000000000</i8>", 9000000000),
    ("<boolean>1</boolean>", True), ("<string>a &amp; b</string>", "a & b"), ("untyped", "untyped"),
    ("<double>1.5</double>", 1.5), ("<base64>aMOpbGxv</base64>", "héllo"), ("<nil/>", None),
    ("<dateTime.iso8601>19980717T14:08:55</dateTime.iso8601>", datetime(1998, 7, 17, 14, 8, 55, tzinfo=timezone.utc)),
    ("<dateTime.iso8601>2024-01-31T12:00:00+02:00</dateTime.iso8601>",
     datetime(2024, 1, 31, 10, 0, tzinfo=timezone.utc)),
    ("<array><data><value><int>1</int></value><value>x</value></data></array>", [1, "x"]),
    ("<struct><member><name>a</name><value><int>1</int></value></member></struct>", {"a": 1}),
])
def test_decode(text: str, expected: Any) -> None:
    assert rpc.decode_value(_value(text)) == expected


@pytest.mark.parametrize("text", ["<boolean>2</boolean>", "<int>x</int>", "<base64>!!</base64>",
                                  "<unknown/>", "<int>1</int><int>2</int>", "<struct><member/></struct>",
                                  "<dateTime.iso8601>yesterday</dateTime.iso8601>"])
def test_decode_rejects(text: str) -> None:
    with pytest.raises(rpc.Fault) as info:
        rpc.decode_value(_value(text))
    assert info.value.code == rpc.INVALID_PARAMS


def test_encode_round_trips_through_xmlrpc_client() -> None:
    value = {"n": 3, "big": 2**40, "ok": False, "when": datetime(2024, 1, 31, 12, 0, tzinfo=timezone.utc),
             "items": ["a", 1.25], "none": None}
    response = etree.Element(q(RPC, "methodResponse"))
    param = etree.SubElement(etree.SubElement(response, q(RPC, "params")), q(RPC, "param"))
    param.append(rpc.encode_value(value))
    (decoded,), _ = xmlrpc.client.loads(etree.tostring(response), use_builtin_types=True)
    assert decoded == {"n": 3, "big": 2**40, "ok": False, "when": datetime(2024, 1, 31, 12, 0),
                       "items": ["a", 1.25], "none": None}
