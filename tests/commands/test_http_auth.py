"""XEP-0070 Verifying HTTP Requests via XMPP: the portal asks, the user's client answers over a
real XMPP connection — by IQ to a full JID, by message to a bare JID — accept, deny, time out."""

from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest
from django.test import AsyncClient
from lxml import etree
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from commands import httpauth
from tests.clients import connect
from tests.commands.helpers import make_token
from tests.plugins.wire import eventually
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)

HTTP_AUTH = "http://jabber.org/protocol/http-auth"
CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
URL = "https://portal.example/login"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


class Confirmer:
    """Answers confirmation IQs on a slixmpp client ("accept", "deny" or "ignore") and keeps them."""

    def __init__(self, client: Any, answer: str) -> None:
        self.client = client
        self.answer = answer
        self.received: list[etree._Element] = []
        client.register_handler(Callback("http-auth confirm", MatchXPath(f"{{{CLIENT}}}iq/{{{HTTP_AUTH}}}confirm"),
                                         self.on_iq))

    def on_iq(self, iq: Any) -> None:
        el = etree.fromstring(ET.tostring(iq.xml))
        self.received.append(el)
        iq_id = el.get("id")
        if self.answer == "accept":  # §4.6: an IQ result confirms
            self.client.send_raw(f"<iq type='result' id='{iq_id}' to='{el.get('from')}'/>")
        elif self.answer == "deny":  # §4.6: an error, preferably <not-authorized/>, denies
            self.client.send_raw(
                f"<iq type='error' id='{iq_id}' to='{el.get('from')}'>{etree.tostring(el[0]).decode()}"
                f"<error type='auth'><not-authorized xmlns='{STANZAS}'/></error></iq>")


async def verify(token: str | None, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # A bearer-token API: no CSRF token needed (the view is csrf_exempt).
    client = AsyncClient(enforce_csrf_checks=True)
    response = await client.post("/api/verify-request", data=body, content_type="application/json",
                                 headers=headers)
    response.data = response.json()
    return response


async def available(srv: Any, jid: str) -> None:
    await eventually(lambda: any(s.is_available for s in srv.server.sessions.resources(JID.parse(jid))))


async def test_confirm_by_iq_to_a_full_jid(xmpp: Any) -> None:
    token = await make_token()
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    confirmer = Confirmer(bob, "accept")
    response = await verify(token, jid=str(bob.boundjid), method="post", url=URL, id="a7374jnjlalasdf82")
    assert response.status_code == 200
    assert response.data == {"status": "confirmed", "jid": str(bob.boundjid), "id": "a7374jnjlalasdf82"}
    (iq,) = confirmer.received
    assert iq.get("type") == "get" and iq.get("from") == "localhost" and iq.get("to") == str(bob.boundjid)
    confirm = iq.find(q(HTTP_AUTH, "confirm"))
    assert confirm.attrib == {"id": "a7374jnjlalasdf82", "method": "POST", "url": URL}


async def test_deny_by_iq(xmpp: Any) -> None:
    token = await make_token()
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    Confirmer(bob, "deny")
    response = await verify(token, jid=str(bob.boundjid), method="GET", url=URL, id="tx-1")
    assert response.status_code == 401 and response.data["status"] == "denied"
    assert response["WWW-Authenticate"] == 'Basic realm="xmpp"'


async def test_no_answer_times_out(xmpp: Any) -> None:
    token = await make_token()
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    confirmer = Confirmer(bob, "ignore")
    response = await verify(token, jid=str(bob.boundjid), method="GET", url=URL, id="tx-2", timeout=0.5)
    assert response.status_code == 401 and response.data["status"] == "timeout"
    assert len(confirmer.received) == 1
    # A late answer changes nothing and is not an error.
    bob.send_raw(f"<iq type='result' id='{confirmer.received[0].get('id')}' to='localhost'/>")


async def test_confirm_and_deny_by_message_to_a_bare_jid(xmpp: Any) -> None:
    token = await make_token()
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await available(xmpp, "bob@localhost")

    async def ask(txid: str, reply: str) -> Any:
        task = asyncio.ensure_future(verify(token, jid="bob@localhost", method="GET", url=URL, id=txid))
        message = await bob.next_message()
        el = etree.fromstring(ET.tostring(message.xml))
        assert el.get("type") == "normal" and el.get("from") == "localhost"
        thread = el.findtext(q(CLIENT, "thread"))
        assert thread and txid in el.findtext(q(CLIENT, "body"))
        confirm = etree.tostring(el.find(q(HTTP_AUTH, "confirm"))).decode()
        assert f'id="{txid}"' in confirm
        stanza = reply.format(thread=thread, confirm=confirm)
        bob.send_raw(stanza)
        return await asyncio.wait_for(task, 5)

    accepted = await ask("m-1", "<message to='localhost'><thread>{thread}</thread>{confirm}</message>")
    assert accepted.status_code == 200 and accepted.data["status"] == "confirmed"
    denied = await ask("m-2", "<message type='error' to='localhost'><thread>{thread}</thread>{confirm}"
                              f"<error type='auth'><not-authorized xmlns='{STANZAS}'/></error></message>")
    assert denied.status_code == 401 and denied.data["status"] == "denied"
    # §4.5: a client that does not know the protocol answers the body in plain text.
    plain = await ask("m-3", "<message to='localhost'><thread>{thread}</thread><body>OK</body></message>")
    assert plain.status_code == 200
    refused = await ask("m-4", "<message to='localhost'><thread>{thread}</thread><body>No.</body></message>")
    assert refused.status_code == 401 and refused.data["status"] == "denied"


async def test_user_not_online(xmpp: Any) -> None:
    token = await make_token()
    await xmpp.add_user("carol")
    response = await verify(token, jid="carol@localhost", method="GET", url=URL, id="tx-3")
    assert response.status_code == 401 and response.data["status"] == "unavailable"
    response = await verify(token, jid="carol@localhost/phone", method="GET", url=URL, id="tx-3")
    assert response.data["status"] == "unavailable"


async def test_bounded_pending_confirmations(xmpp: Any) -> None:
    token = await make_token()
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    confirmer = Confirmer(bob, "ignore")
    waiting = [asyncio.ensure_future(verify(token, jid=str(bob.boundjid), method="GET", url=URL, id=f"p{i}",
                                            timeout=1)) for i in range(httpauth.MAX_PENDING)]
    await eventually(lambda: len(confirmer.received) == httpauth.MAX_PENDING, what="every confirmation asked")
    busy = await verify(token, jid=str(bob.boundjid), method="GET", url=URL, id="one-too-many")
    assert busy.status_code == 429 and busy.data["status"] == "busy"
    assert [r.data["status"] for r in await asyncio.gather(*waiting)] == ["timeout"] * httpauth.MAX_PENDING


async def test_api_authentication_and_input(xmpp: Any) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    jid = str(bob.boundjid)
    response = await verify(None, jid=jid, method="GET", url=URL, id="x")
    assert response.status_code == 401 and response.data["error"]["code"] == "unauthorized"
    read_only = await make_token(read_only=True)
    assert (await verify(read_only, jid=jid, method="GET", url=URL, id="x")).status_code == 403
    other_domain = await make_token(domain="example.org")
    assert (await verify(other_domain, jid=jid, method="GET", url=URL, id="x")).status_code == 403
    token = await make_token()
    for body, field_name in (({"jid": "nobody", "method": "GET", "url": URL, "id": "x"}, "jid"),
                             ({"jid": "a@elsewhere.example", "method": "GET", "url": URL, "id": "x"}, "jid"),
                             ({"jid": jid, "method": "GE T", "url": URL, "id": "x"}, "method"),
                             ({"jid": jid, "method": "GET", "url": "ftp://x/y", "id": "x"}, "url"),
                             ({"jid": jid, "method": "GET", "url": URL, "id": ""}, "id"),
                             ({"jid": jid, "method": "GET", "url": URL, "id": "x", "timeout": 9999}, "timeout")):
        response = await verify(token, **body)
        assert response.status_code == 400, body
        assert field_name in response.data["error"]["fields"], body
    response = await AsyncClient().get("/api/verify-request", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405


# -- the browser flow: Basic realm="xmpp" (§4.2-§4.7) --------------------------------------------

def basic(jid: str, txid: str) -> str:
    raw = f"{quote(jid, safe='@/')}:{quote(txid, safe='')}".encode("ascii")
    return "Basic " + base64.b64encode(raw).decode("ascii")


async def test_browser_login_flow(xmpp: Any) -> None:
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    confirmer = Confirmer(bob, "accept")
    browser = AsyncClient()
    challenge = await browser.get("/auth/xmpp/")
    assert challenge.status_code == 401 and challenge["WWW-Authenticate"] == 'Basic realm="xmpp"'
    response = await browser.get("/auth/xmpp/", headers={"Authorization": basic(str(bob.boundjid), "tx é 1")})
    assert response.status_code == 200 and response.json() == {"status": "confirmed", "jid": "bob@localhost"}
    assert "sessionid" in response.cookies
    confirm = confirmer.received[0].find(q(HTTP_AUTH, "confirm"))
    assert confirm.get("id") == "tx é 1"  # percent-decoded (§4.3.1)
    assert confirm.get("method") == "GET" and confirm.get("url") == "http://testserver/auth/xmpp/"
    session = await browser.asession()
    assert await session.aget(httpauth.SESSION_KEY) == "bob@localhost"
    confirmer.answer = "deny"
    denied = await AsyncClient().get("/auth/xmpp/", headers={"Authorization": basic(str(bob.boundjid), "t2")})
    assert denied.status_code == 403  # §4.7
    assert (await AsyncClient().get("/auth/xmpp/", headers={"Authorization": "Basic !!"})).status_code == 401
    assert (await AsyncClient().post("/auth/xmpp/")).status_code == 405


def test_basic_credentials_parsing() -> None:
    assert httpauth.basic_credentials(basic("juliet@capulet.com/balcony", "a:b")) == (
        "juliet@capulet.com/balcony", "a:b")
    assert httpauth.basic_credentials("Bearer x") is None
    assert httpauth.basic_credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None
