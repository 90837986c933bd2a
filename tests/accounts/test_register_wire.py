"""XEP-0077 on the wire: a real server on loopback, raw XML sockets and slixmpp's xep_0077."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest
import slixmpp
from lxml import etree

from accounts import actions
from tests.clients import RawClient, header, stream_error_condition
from tests.conftest import RunningServer, client_ssl_context
from tests.support.waiting import wait_for
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = b'<register xmlns="http://jabber.org/features/iq-register"/>'
REG = "jabber:iq:register"
NS = {"c": "jabber:client", "r": REG, "x": "jabber:x:data",
      "s": "urn:ietf:params:xml:ns:xmpp-stanzas"}


# -- raw helpers ----------------------------------------------------------------------

async def open_stream(srv: RunningServer, to: str = "localhost") -> tuple[RawClient, bytes]:
    """Connect, send a stream header, return the client and the <stream:features/> bytes."""
    raw = await RawClient.open(srv.host, srv.port)
    srv.clients.append(_Closer(raw))
    raw.send(header(to))
    data = await raw.read_until(rb"</stream:features>|<stream:features[^>]*/>")
    raw.take()
    return raw, data


async def request(raw: RawClient, xml: str, id_: str) -> etree._Element:
    """Send one iq and parse the iq that answers it (leaving what follows in the buffer)."""
    raw.send(xml)
    pattern = rf"<iq[^>]*?id=\"{id_}\"[^>]*?(/>|>.*?</iq>)"
    data = await raw.read_until(pattern)
    match = re.search(pattern.encode(), data, re.S)
    raw.buffer = data[match.end():]
    return etree.fromstring(match.group(0))


def register_iq(id_: str, *children: str, type_: str = "set") -> str:
    return f"<iq type='{type_}' id='{id_}'><query xmlns='{REG}'>{''.join(children)}</query></iq>"


def condition(reply: etree._Element) -> str | None:
    found = reply.xpath("c:error/s:*", namespaces=NS)
    return etree.QName(found[0]).localname if found else None


async def login_raw(srv: RunningServer, user: str, password: str, resource: str = "wire") -> RawClient:
    """PLAIN login and resource binding over a raw socket (the server allows PLAIN without TLS)."""
    raw, _ = await open_stream(srv)
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    data = await raw.read_until(rb"<success[^>]*(/>|>.*?</success>)|</failure>")
    assert b"<success" in data, data
    raw.take()
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    bound = await request(raw, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                               f"<resource>{resource}</resource></bind></iq>", "bind")
    assert bound.get("type") == "result", etree.tostring(bound)
    return raw


class _Closer:
    """Lets the server fixture's cleanup close raw sockets too."""

    def __init__(self, raw: RawClient) -> None:
        self.raw = raw

    def abort(self) -> None:
        self.raw.close()


# -- raw-socket tests -----------------------------------------------------------------

async def test_feature_advertised_only_when_registration_is_allowed(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    _, features = await open_stream(srv)
    assert FEATURE in features
    closed = await make_server(allow_registration=False)
    _, features = await open_stream(closed)
    assert b"iq-register" not in features


async def test_fields_then_register_then_login(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    raw, _ = await open_stream(srv)
    reply = await request(raw, register_iq("reg1", type_="get"), "reg1")
    assert reply.get("type") == "result"
    query = reply.find("r:query", NS)
    assert query.find("r:username", NS) is not None and query.find("r:password", NS) is not None
    assert query.find("r:instructions", NS).text
    assert query.xpath("x:x/x:field[@var='FORM_TYPE']/x:value/text()", namespaces=NS) == [REG]
    assert set(query.xpath("x:x/x:field/@var", namespaces=NS)) == {"FORM_TYPE", "username", "password"}

    reply = await request(raw, register_iq("reg2", "<username>Bill</username>",
                                           "<password>Calliope</password>"), "reg2")
    assert reply.get("type") == "result" and len(reply) == 0
    assert await db(actions.check_account_password, "bill", "localhost", "Calliope")
    # §3.1.1: then the entity authenticates with its new identity, on the same stream.
    token = base64.b64encode(b"\0bill\0Calliope").decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    assert b"<success" in await raw.read_until(rb"<success|</failure>")


async def test_register_with_data_form(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    raw, _ = await open_stream(srv)
    submitted = ("<x xmlns='jabber:x:data' type='submit'>"
                 f"<field var='FORM_TYPE' type='hidden'><value>{REG}</value></field>"
                 "<field var='username'><value>juliet</value></field>"
                 "<field var='password'><value>R0m30</value></field></x>")
    reply = await request(raw, register_iq("f1", submitted), "f1")
    assert reply.get("type") == "result"
    assert await db(actions.check_account_password, "juliet", "localhost", "R0m30")


async def test_registration_is_on_the_stream_domain(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    raw, _ = await open_stream(srv, to="example.org")
    reply = await request(raw, register_iq("d1", "<username>bill</username>",
                                           "<password>pw</password>"), "d1")
    assert reply.get("type") == "result"
    assert await db(actions.account_exists, "bill", "example.org")
    assert not await db(actions.account_exists, "bill", "localhost")


async def test_conflict(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    await srv.add_user("bill", "pw")
    raw, _ = await open_stream(srv)
    reply = await request(raw, register_iq("c1", "<username>bill</username>",
                                           "<password>m1cro$oft</password>"), "c1")
    assert reply.get("type") == "error" and condition(reply) == "conflict"
    assert reply.find("c:error", NS).get("type") == "cancel"
    assert await db(actions.check_account_password, "bill", "localhost", "pw")


@pytest.mark.parametrize("children,expected", [
    (("<username>bill</username>",), "not-acceptable"),
    (("<username>bill</username>", "<password/>"), "not-acceptable"),
    (("<password>pw</password>",), "not-acceptable"),
    (("<username>bill smith</username>", "<password>pw</password>"), "jid-malformed"),
    (("<username>a:b</username>", "<password>pw</password>"), "jid-malformed"),
])
async def test_refused_registrations(make_server: Any, children: tuple[str, ...], expected: str) -> None:
    srv = await make_server(allow_registration=True)
    raw, _ = await open_stream(srv)
    reply = await request(raw, register_iq("bad", *children), "bad")
    assert reply.get("type") == "error" and condition(reply) == expected
    assert await db(actions.list_accounts) == []


async def test_disabled_registration_is_service_unavailable(make_server: Any) -> None:
    srv = await make_server(allow_registration=False)
    raw, _ = await open_stream(srv)
    reply = await request(raw, register_iq("off1", type_="get"), "off1")
    assert condition(reply) == "service-unavailable"
    reply = await request(raw, register_iq("off2", "<username>bill</username>",
                                           "<password>pw</password>"), "off2")
    assert condition(reply) == "service-unavailable"
    assert await db(actions.list_accounts) == []


async def test_no_registration_in_the_clear_when_tls_is_required(make_server: Any) -> None:
    srv = await make_server(allow_registration=True, require_tls=True)
    raw, features = await open_stream(srv)
    assert FEATURE not in features  # §8: offered after STARTTLS only
    reply = await request(raw, register_iq("t1", "<username>bill</username>",
                                           "<password>pw</password>"), "t1")
    assert condition(reply) == "policy-violation"
    assert await db(actions.list_accounts) == []


async def test_registration_after_starttls(make_server: Any) -> None:
    srv = await make_server(allow_registration=True, require_tls=True)
    raw, _ = await open_stream(srv)
    raw.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await raw.read_until(rb"<proceed[^>]*/>")
    raw.take()
    await raw.starttls()
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    raw.take()
    assert FEATURE in features
    reply = await request(raw, register_iq("s1", "<username>bill</username>",
                                           "<password>pw</password>"), "s1")
    assert reply.get("type") == "result"
    assert await db(actions.account_exists, "bill", "localhost")


async def test_registered_state_and_password_change(make_server: Any) -> None:
    srv = await make_server(allow_registration=False)  # authenticated use needs no registration
    await srv.add_user("bill", "old")
    raw = await login_raw(srv, "bill", "old")
    reply = await request(raw, register_iq("g1", type_="get"), "g1")
    query = reply[0]
    assert query.find("r:registered", NS) is not None
    assert query.findtext("r:username", namespaces=NS) == "bill"
    reply = await request(raw, register_iq("change1", "<username>bill</username>",
                                           "<password>newpass</password>"), "change1")
    assert reply.get("type") == "result"
    assert await db(actions.check_account_password, "bill", "localhost", "newpass")
    # §3.3: an empty password never replaces the current one.
    reply = await request(raw, register_iq("change2", "<username>bill</username>", "<password/>"),
                          "change2")
    assert condition(reply) == "bad-request"
    assert reply.find("r:query", NS) is None  # §3.3: the request is not echoed back
    assert await db(actions.check_account_password, "bill", "localhost", "newpass")


async def test_cancel_registration(make_server: Any) -> None:
    srv = await make_server()
    await srv.add_user("bill", "pw")
    await srv.add_user("ben", "pw")
    globe = await login_raw(srv, "bill", "pw", resource="globe")
    home = await login_raw(srv, "bill", "pw", resource="home")
    ben = await login_raw(srv, "ben", "pw")
    reply = await request(globe, register_iq("unreg1", "<remove/>"), "unreg1")
    assert reply.get("type") == "result"
    # §3.2: the requester's stream ends; every other session of the account gets
    # a <not-authorized/> stream error.
    assert (await globe.read_to_eof()).rstrip().endswith(b"</stream:stream>")
    assert stream_error_condition(await home.read_to_eof()) == "not-authorized"
    assert not await db(actions.account_exists, "bill", "localhost")
    reply = await request(ben, register_iq("g", type_="get"), "g")
    assert reply.get("type") == "result"  # another account's session is untouched


async def test_logout_is_recorded(make_server: Any) -> None:
    srv = await make_server()
    await srv.add_user("bill", "pw")
    raw = await login_raw(srv, "bill", "pw")
    raw.send("<presence/>")
    raw.send("<presence type='unavailable'><status>Gone fishing</status></presence>")
    raw.send("</stream:stream>")
    await raw.read_to_eof()
    async def logout() -> Any:
        when, status = await db(actions.get_last_logout, "bill", "localhost")
        return (when, status) if when is not None else None

    _, status = await wait_for(logout, what="bill's logout recorded")
    assert status == "Gone fishing"


# -- slixmpp (a real client library) ---------------------------------------------------

class Registrant(slixmpp.ClientXMPP):
    """slixmpp's in-band registration flow: register on the feature, then log in."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.ssl_context = client_ssl_context()
        self.enable_direct_tls = False
        self.enable_starttls = False
        self.enable_plaintext = True
        self["feature_mechanisms"].unencrypted_plain = True
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0066")
        self.register_plugin("xep_0077")
        self.registered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.add_event_handler("register", self.on_register)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _: self._fail("failed_auth"))

    async def on_register(self, form: Any) -> None:
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=5)
        except Exception as exc:  # IqError carries the server's condition
            self._fail(exc)
            return
        if not self.registered.done():
            self.registered.set_result(form)

    def on_start(self, _: Any) -> None:
        if not self.started.done():
            self.started.set_result(True)

    def _fail(self, why: Any) -> None:
        for fut in (self.registered, self.started):
            if not fut.done():
                fut.set_exception(AssertionError(f"{why}"))


async def slixmpp_client(srv: RunningServer, client: slixmpp.ClientXMPP) -> Any:
    srv.clients.append(client)
    client.connect(srv.host, srv.port)
    return client


async def test_slixmpp_registers_in_band_then_logs_in(make_server: Any) -> None:
    srv = await make_server(allow_registration=True)
    client = await slixmpp_client(srv, Registrant("romeo@localhost", "Juliet!"))
    form = await asyncio.wait_for(client.registered, 10)
    assert form["register"]["instructions"]
    assert form["register"]["form"].get_values()["FORM_TYPE"] in (REG, [REG])
    await asyncio.wait_for(client.started, 10)
    assert str(client.boundjid.bare) == "romeo@localhost"
    assert await db(actions.check_account_password, "romeo", "localhost", "Juliet!")


async def test_slixmpp_change_password_then_cancel(make_server: Any) -> None:
    srv = await make_server()
    await srv.add_user("romeo", "old")
    client = Registrant("romeo@localhost", "old")
    client["xep_0077"].create_account = False
    await slixmpp_client(srv, client)
    await asyncio.wait_for(client.started, 10)
    await client["xep_0077"].change_password("new", timeout=5)
    assert await db(actions.check_account_password, "romeo", "localhost", "new")
    disconnected = asyncio.get_running_loop().create_future()
    client.add_event_handler("disconnected", lambda _: disconnected.done() or disconnected.set_result(True))
    result = await client["xep_0077"].cancel_registration(timeout=5)
    assert result["type"] == "result"
    await asyncio.wait_for(disconnected, 10)
    assert not await db(actions.account_exists, "romeo", "localhost")
