"""accounts.xmpp handlers without sockets: hooks in, reply elements out (XEP-0077, XEP-0012)."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from accounts import actions
from accounts import xmpp as accounts_xmpp
from xmppcore import ns
from xmppcore.jid import JID
from xmppcore.stanza import Stanza
from xmppd.server import Config, Server
from xmppd.sessions import Session
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

REG = ns.REGISTER
XDATA = ns.DATA_FORMS


def q(name: str, namespace: str = REG) -> str:
    return ns.q(namespace, name)


class FakeOrigin:
    """What the c2s driver hands pre-auth handlers: `.domain`, `.send`, auth and TLS state."""

    def __init__(self, domain: str = "localhost", authenticated: bool = False, secure: bool = True) -> None:
        self.domain = domain
        self.is_authenticated = authenticated
        self.is_secure = secure
        self.sent: list[etree._Element] = []

    def send(self, el: etree._Element) -> bool:
        self.sent.append(el)
        return True


def make_server(**config: Any) -> Server:
    server = Server(Config(domains=["localhost", "example.org"], **config))
    accounts_xmpp.load(server)
    return server


def iq(type_: str, *children: str, id_: str = "r1", to: str | None = None) -> etree._Element:
    to_attr = f" to='{to}'" if to else ""
    return etree.fromstring(
        f"<iq xmlns='jabber:client' type='{type_}' id='{id_}'{to_attr}>"
        f"<query xmlns='jabber:iq:register'>{''.join(children)}</query></iq>")


def preauth(el: etree._Element, origin: FakeOrigin) -> Stanza:
    return Stanza(el, "iq", None, None, origin)


def condition(reply: etree._Element) -> str | None:
    error = reply.find(ns.q(ns.CLIENT, "error"))
    if error is None:
        return None
    return etree.QName(error[0]).localname


def form(values: dict[str, str], form_type: str = REG, type_: str = "submit") -> str:
    fields = f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"
    fields += "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in values.items())
    return f"<x xmlns='jabber:x:data' type='{type_}'>{fields}</x>"


async def fire_preauth(server: Server, el: etree._Element, origin: FakeOrigin) -> etree._Element:
    type_ = el.get("type")
    return await server.hooks.fire(f"preauth-iq-{type_}/{REG}:query", preauth(el, origin))


class TestMetadata:
    def test_module(self) -> None:
        server = make_server()
        (module,) = [m for m in server.modules if m.name == "accounts"]
        assert (module.name, module.xep, module.version) == ("accounts", "XEP-0077", "2.4")
        assert accounts_xmpp.PREAUTH_NAMESPACES == frozenset({REG})
        assert REG in server.preauth_namespaces
        assert REG in server.features

    def test_stream_feature_only_before_auth_and_when_allowed(self) -> None:
        def register_features(server: Server, state: FakeOrigin) -> list[bytes]:
            out = [p(state) for p in server.stream_features]
            return [etree.tostring(f) for f in out
                    if f is not None and f.tag == ns.q(ns.REGISTER_FEATURE, "register")]

        allowed = make_server(allow_registration=True)
        assert register_features(allowed, FakeOrigin()) == [
            b'<register xmlns="http://jabber.org/features/iq-register"/>']
        assert register_features(allowed, FakeOrigin(authenticated=True)) == []
        assert register_features(make_server(allow_registration=False), FakeOrigin()) == []


class TestAuthHooks:
    async def test_credentials(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "alice", "localhost", "pw")
        creds = await server.hooks.fire("auth/credentials", "alice", "localhost")
        assert set(creds) == {"SHA-1", "SHA-256"}
        assert await server.hooks.fire("auth/credentials", "ghost", "localhost") == {}

    async def test_check_password(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "alice", "localhost", "pw")
        assert await server.hooks.fire("auth/check-password", "alice", "localhost", "pw") is True
        assert await server.hooks.fire("auth/check-password", "alice", "localhost", "no") is False
        await db(actions.do_set_active, "alice", "localhost", False)
        assert await server.hooks.fire("auth/check-password", "alice", "localhost", "pw") is False
        assert await server.hooks.fire("auth/credentials", "alice", "localhost") == {}

    async def test_exists(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "alice", "localhost", "pw")
        assert await server.hooks.fire("account/exists", "alice", "localhost") is True
        assert await server.hooks.fire("account/exists", "bob", "localhost") is False

    async def test_session_closed_records_logout(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "alice", "localhost", "pw")
        other: list[Any] = []
        server.hooks.add("session/closed", lambda s, p: other.append(s), priority=-10)
        session = Session(JID.parse("alice@localhost/home"), lambda b: True, lambda c: None)
        presence = etree.fromstring(
            "<presence xmlns='jabber:client' type='unavailable'><status>Off to bed</status></presence>")
        await server.hooks.fire("session/closed", session, presence)
        await server.hooks.fire_all("account/flush-logouts")
        when, status = await db(actions.get_last_logout, "alice", "localhost")
        assert when is not None and status == "Off to bed"
        assert other == [session], "the handler must not stop the notification"
        await server.hooks.fire_all("session/closed", session, None)
        await server.hooks.fire_all("account/flush-logouts")
        assert (await db(actions.get_last_logout, "alice", "localhost"))[1] == ""


    async def test_status_observed_when_the_driver_passes_no_presence(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "alice", "localhost", "pw")
        session = Session(JID.parse("alice@localhost/home"), lambda b: True, lambda c: None)

        def broadcast(xml: str) -> Any:
            el = etree.fromstring(xml)
            return server.hooks.fire("presence/broadcast", Stanza(el, "presence", None, session.jid, session))

        assert await broadcast("<presence xmlns='jabber:client' type='unavailable'>"
                               "<status>Back soon</status></presence>") is None
        await server.hooks.fire_all("session/closed", session, None)
        await server.hooks.fire_all("account/flush-logouts")
        assert (await db(actions.get_last_logout, "alice", "localhost"))[1] == "Back soon"
        await broadcast("<presence xmlns='jabber:client'/>")  # available again: forget it
        await server.hooks.fire_all("session/closed", session, None)
        await server.hooks.fire_all("account/flush-logouts")
        assert (await db(actions.get_last_logout, "alice", "localhost"))[1] == ""


class TestPreauthRegistration:
    async def test_get_fields_and_form(self) -> None:
        server = make_server(allow_registration=True)
        reply = await fire_preauth(server, iq("get"), FakeOrigin())
        assert reply.get("type") == "result" and reply.get("id") == "r1"
        query = reply.find(q("query"))
        assert query.findtext(q("instructions"))
        assert query.find(q("username")) is not None and query.find(q("password")) is not None
        assert query.find(q("registered")) is None
        x = query.find(q("x", XDATA))
        assert x.get("type") == "form"
        fields = {f.get("var"): f for f in x.iter(q("field", XDATA))}
        assert fields["FORM_TYPE"].get("type") == "hidden"
        assert fields["FORM_TYPE"].findtext(q("value", XDATA)) == REG
        assert fields["password"].get("type") == "text-private"
        assert fields["username"].find(q("required", XDATA)) is not None

    async def test_register_plain_fields(self) -> None:
        server = make_server(allow_registration=True)
        origin = FakeOrigin()
        el = iq("set", "<username>Bill</username>", "<password>Calliope</password>", id_="reg2")
        reply = await fire_preauth(server, el, origin)
        assert reply.get("type") == "result" and reply.get("id") == "reg2" and len(reply) == 0
        assert await db(actions.check_account_password, "bill", "localhost", "Calliope")

    async def test_register_on_the_stream_domain(self) -> None:
        server = make_server(allow_registration=True)
        el = iq("set", "<username>bill</username>", "<password>pw</password>")
        reply = await fire_preauth(server, el, FakeOrigin(domain="example.org"))
        assert reply.get("type") == "result"
        assert await db(actions.account_exists, "bill", "example.org")
        assert not await db(actions.account_exists, "bill", "localhost")

    async def test_register_with_form(self) -> None:
        server = make_server(allow_registration=True)
        el = iq("set", form({"username": "juliet", "password": "R0m30"}))
        reply = await fire_preauth(server, el, FakeOrigin())
        assert reply.get("type") == "result"
        assert await db(actions.check_account_password, "juliet", "localhost", "R0m30")

    async def test_form_with_wrong_type(self) -> None:
        server = make_server(allow_registration=True)
        el = iq("set", form({"username": "juliet", "password": "pw"}, type_="form"))
        assert condition(await fire_preauth(server, el, FakeOrigin())) == "bad-request"
        el = iq("set", form({"username": "juliet", "password": "pw"}, form_type="urn:other"))
        assert condition(await fire_preauth(server, el, FakeOrigin())) == "bad-request"

    async def test_conflict(self) -> None:
        server = make_server(allow_registration=True)
        await db(actions.do_create_account, "bill", "localhost", "pw")
        el = iq("set", "<username>BILL</username>", "<password>m1cro$oft</password>")
        reply = await fire_preauth(server, el, FakeOrigin())
        assert reply.get("type") == "error" and condition(reply) == "conflict"
        assert reply.find(ns.q(ns.CLIENT, "error")).get("type") == "cancel"
        assert await db(actions.check_account_password, "bill", "localhost", "pw")

    @pytest.mark.parametrize("children", [
        ("<username>bill</username>",),
        ("<password>pw</password>",),
        ("<username>bill</username>", "<password/>"),
        ("<username></username>", "<password>pw</password>"),
        (),
    ])
    async def test_missing_information(self, children: tuple[str, ...]) -> None:
        server = make_server(allow_registration=True)
        reply = await fire_preauth(server, iq("set", *children), FakeOrigin())
        assert condition(reply) == "not-acceptable"
        assert reply.find(ns.q(ns.CLIENT, "error")).get("type") == "modify"
        assert not await db(actions.list_accounts)

    @pytest.mark.parametrize("username", ["bill smith", "bill@other.example", "a:b", "x" * 1100])
    async def test_invalid_username(self, username: str) -> None:
        server = make_server(allow_registration=True)
        el = iq("set", f"<username>{username}</username>", "<password>pw</password>")
        reply = await fire_preauth(server, el, FakeOrigin())
        assert condition(reply) == "jid-malformed"
        assert not await db(actions.list_accounts)

    async def test_disabled(self) -> None:
        server = make_server(allow_registration=False)
        for el in (iq("get"), iq("set", "<username>bill</username>", "<password>pw</password>")):
            reply = await fire_preauth(server, el, FakeOrigin())
            assert condition(reply) == "service-unavailable"
        assert not await db(actions.list_accounts)

    async def test_refused_without_tls_when_tls_is_required(self) -> None:
        server = make_server(allow_registration=True, require_tls=True)
        el = iq("set", "<username>bill</username>", "<password>pw</password>")
        reply = await fire_preauth(server, el, FakeOrigin(secure=False))
        assert condition(reply) == "policy-violation"
        reply = await fire_preauth(server, el, FakeOrigin(secure=True))
        assert reply.get("type") == "result"

    async def test_one_registration_per_connection(self) -> None:
        server = make_server(allow_registration=True)
        origin = FakeOrigin()
        el = iq("set", "<username>one</username>", "<password>pw</password>")
        assert (await fire_preauth(server, el, origin)).get("type") == "result"
        el = iq("set", "<username>two</username>", "<password>pw</password>")
        assert condition(await fire_preauth(server, el, origin)) == "not-acceptable"
        assert (await fire_preauth(server, el, FakeOrigin())).get("type") == "result"

    async def test_remove_before_auth(self) -> None:
        server = make_server(allow_registration=True)
        reply = await fire_preauth(server, iq("set", "<remove/>"), FakeOrigin())
        assert condition(reply) == "unexpected-request"


class FakeSession(Session):
    """A bound session whose writes and closes are recorded."""

    def __init__(self, jid: str) -> None:
        self.sent_el: list[etree._Element] = []
        self.closed_with: list[str | None] = []
        super().__init__(JID.parse(jid), lambda b: True, self.closed_with.append)

    def send(self, el: etree._Element) -> bool:
        self.sent_el.append(el)
        return True


async def fire_bound(server: Server, el: etree._Element, session: Session,
                     scope: str = "self") -> Any:
    el.set("from", str(session.jid))
    to = JID.parse(el.get("to")) if el.get("to") else None
    stanza = Stanza(el, "iq", to, session.jid, session)
    return await server.hooks.fire(f"iq-{el.get('type')}/{scope}/{REG}:query", stanza)


class TestRegistered:
    async def test_get_shows_registered(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "pw")
        session = FakeSession("bill@localhost/globe")
        reply = await fire_bound(server, iq("get"), session)
        query = reply.find(q("query"))
        assert query.find(q("registered")) is not None
        assert query.findtext(q("username")) == "bill"
        assert not query.findtext(q("password"))
        assert reply.get("to") == "bill@localhost/globe"

    async def test_host_scope(self) -> None:
        server = make_server()
        session = FakeSession("bill@localhost/globe")
        reply = await fire_bound(server, iq("get", to="localhost"), session, scope="host")
        assert reply.find(q("query")).find(q("registered")) is not None
        assert reply.get("from") == "localhost"

    async def test_other_domain_is_refused(self) -> None:
        from xmppcore.errors import StanzaError

        server = make_server()
        session = FakeSession("bill@localhost/globe")
        with pytest.raises(StanzaError) as exc:
            await fire_bound(server, iq("get", to="example.org"), session, scope="host")
        assert exc.value.condition == "service-unavailable"


class TestChangePassword:
    async def test_change(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "old")
        session = FakeSession("bill@localhost/globe")
        el = iq("set", "<username>bill</username>", "<password>newpass</password>", id_="change1")
        reply = await fire_bound(server, el, session)
        assert reply.get("type") == "result" and reply.get("id") == "change1"
        assert await db(actions.check_account_password, "bill", "localhost", "newpass")
        assert not await db(actions.check_account_password, "bill", "localhost", "old")

    async def test_change_with_form(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "old")
        session = FakeSession("bill@localhost/globe")
        el = iq("set", form({"username": "bill@localhost", "old_password": "old",
                             "password": "groundlings"}, form_type=f"{REG}:changepassword"))
        assert (await fire_bound(server, el, session)).get("type") == "result"
        assert await db(actions.check_account_password, "bill", "localhost", "groundlings")

    @pytest.mark.parametrize("children", [
        ("<username>bill</username>", "<password/>"),
        ("<password>newpass</password>",),
        ("<username>ben</username>", "<password>newpass</password>"),
        ("<username>bill@example.org</username>", "<password>newpass</password>"),
    ])
    async def test_refused_keeps_the_password(self, children: tuple[str, ...]) -> None:
        from xmppcore.errors import StanzaError

        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "old")
        await db(actions.do_create_account, "ben", "localhost", "bens")
        session = FakeSession("bill@localhost/globe")
        with pytest.raises(StanzaError) as exc:
            await fire_bound(server, iq("set", *children), session)
        assert exc.value.condition == "bad-request"
        assert await db(actions.check_account_password, "bill", "localhost", "old")
        assert await db(actions.check_account_password, "ben", "localhost", "bens")


class TestCancel:
    async def test_remove_closes_all_sessions(self) -> None:
        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "pw")
        await db(actions.do_create_account, "ben", "localhost", "pw")
        globe, home, ben = (FakeSession(j) for j in
                            ("bill@localhost/globe", "bill@localhost/home", "ben@localhost/x"))
        for s in (globe, home, ben):
            server.sessions.add(s)
        result = await fire_bound(server, iq("set", "<remove/>", id_="unreg1"), globe)
        assert result is True
        (reply,) = globe.sent_el
        assert reply.get("type") == "result" and reply.get("id") == "unreg1"
        assert reply.get("to") == "bill@localhost/globe"
        assert globe.closed_with == [None]
        assert home.closed_with == ["not-authorized"]
        assert ben.closed_with == []
        assert not await db(actions.account_exists, "bill", "localhost")
        assert await db(actions.account_exists, "ben", "localhost")

    async def test_remove_must_be_alone(self) -> None:
        from xmppcore.errors import StanzaError

        server = make_server()
        await db(actions.do_create_account, "bill", "localhost", "pw")
        session = FakeSession("bill@localhost/globe")
        with pytest.raises(StanzaError) as exc:
            await fire_bound(server, iq("set", "<remove/>", "<username>bill</username>"), session)
        assert exc.value.condition == "bad-request"
        assert await db(actions.account_exists, "bill", "localhost")
        assert session.closed_with == []
