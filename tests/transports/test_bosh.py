"""BOSH (XEP-0124 1.11.2, XEP-0206 1.4) on the wire: raw HTTP/1.1 requests against the ASGI
app (uvicorn in-process, `bosh_web`), slixmpp users on TCP beside them, two nodes over the
Redis channel layer, and one run of the real `manage.py xmppd` (Daphne, http:// and https://).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any, Iterator

import pytest

from tests.clients import connect
from tests.interop.jsclients import subscribe_both
from tests.support.process import child_env, migrate_with_users, start_xmppd
from tests.support.quiet import settle
from tests.support.waiting import wait_for
from tests.transports.conftest_bosh import (BOSH, CLIENT, SASL, STREAM, XBOSH, BoshClient, body,
                                            bosh_web, http)  # noqa: F401 (fixture)
from tests.xmppd.test_cluster import REDIS_URL, redis_layer  # noqa: F401 (fixture)
from tests.xmppd.test_split_processes import split_server, tcp_login  # noqa: F401 (fixture)
from xmppcore.jid import JID
from xmppd.transports.bosh import table_for

STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
PING = "<iq xmlns='jabber:client' type='get' id='{id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"


def message(to: str, text: str) -> str:
    return f"<message xmlns='{CLIENT}' to='{to}' type='chat'><body>{text}</body></message>"


def session_of(web: Any, full_jid: str) -> Any:
    return web.xmpp.server.sessions.get(JID.parse(full_jid))


async def reached(web: Any, client: BoshClient, rid: int | None = None) -> None:
    """Wait until the server has request `rid` (default: the client's latest) of `client` waiting
    for its answer: held (XEP-0124 §7), or queued behind a missing rid (§14.1)."""
    rid = client.rid if rid is None else rid
    table = table_for(web.xmpp.server)
    await wait_for(lambda: table.get(client.sid) is not None and rid in table.get(client.sid).waiters,
                   what=f"request {rid} waiting on the server")


async def presence_from(queue: asyncio.Queue, jid: str, type_: str | None, timeout: float = 5.0) -> Any:
    """The next presence from `jid` with that type (None: available) a slixmpp client got."""
    async def loop() -> Any:
        while True:
            p = await queue.get()
            if str(p["from"]) == jid and p.xml.get("type") == type_:
                return p
    return await asyncio.wait_for(loop(), timeout)


# -- session creation (XEP-0124 §7, XEP-0206 §4) ----------------------------------------------

async def test_session_creation_response(bosh_web: Any) -> None:
    c = BoshClient.for_web(bosh_web)
    r = await c.create(wait=30, hold=1, ver="1.11")
    assert r.status == 200
    assert r.headers["content-type"] == "text/xml; charset=utf-8" and r.headers["cache-control"] == "no-store"
    assert r.body.startswith(b"<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:xmpp=\"urn:xmpp:xbosh\""
                             b" xmlns:stream=\"http://etherx.jabber.org/streams\" sid=\"")
    attrs = dict(r.el.attrib)
    sid, authid = attrs.pop("sid"), attrs.pop("authid")
    assert len(sid) >= 32 and authid and sid != authid
    assert attrs == {"wait": "30", "requests": "2", "hold": "1", "inactivity": "60", "polling": "2",
                     "maxpause": "120", "ver": "1.11", "from": "localhost", f"{{{XBOSH}}}version": "1.0",
                     f"{{{XBOSH}}}restartlogic": "true"}
    [features] = r.payloads
    assert features.tag == f"{{{STREAM}}}features"
    assert [m.text for m in features.iterfind(f"{{{SASL}}}mechanisms/{{{SASL}}}mechanism")] == [
        "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    assert features.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None  # XEP-0206 §3: TLS is HTTP's

    # The server's limits cap what a client asks (§7.1); 'content' names the response type;
    # /http-bind/ is the same endpoint.
    other = BoshClient.for_web(bosh_web, path="/http-bind/")
    r = await other.create(wait=3600, hold=4, ver="1.6", content="text/html; charset=utf-8")
    assert (r.status, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert (r.el.get("wait"), r.el.get("hold"), r.el.get("requests"), r.el.get("ver")) == ("60", "1", "2", "1.6")
    assert len(table_for(bosh_web.xmpp.server)) == 2


@pytest.mark.parametrize("attrs,condition", [
    ({"to": "example.net"}, "host-unknown"),
    ({"to": ""}, "improper-addressing"),
    ({"to": "alice@localhost"}, "host-unknown"),
    ({"wait": "soon"}, "bad-request"),
])
async def test_session_creation_errors(bosh_web: Any, attrs: dict, condition: str) -> None:
    c = BoshClient.for_web(bosh_web)
    r = await c.create(**attrs)
    assert (r.status, r.type, r.condition) == (200, "terminate", condition)
    assert len(table_for(bosh_web.xmpp.server)) == 0


@pytest.mark.parametrize("data,condition", [
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='nope'/>", "item-not-found"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost'", "bad-request"),
    (b"<stream xmlns='http://jabber.org/protocol/httpbind' rid='1'/>", "bad-request"),
    (b"<body xmlns='http://jabber.org/protocol/httpbind' to='localhost' ver='1.11'/>", "bad-request"),
    (b"<!DOCTYPE body><body xmlns='http://jabber.org/protocol/httpbind' rid='1'/>", "bad-request"),
])
async def test_bad_requests(bosh_web: Any, data: bytes, condition: str) -> None:
    r = await http(bosh_web.host, bosh_web.port, "POST", "/http-bind", data)
    assert r.status == 200 and r.body == (
        f"<body xmlns=\"{BOSH}\" type=\"terminate\" condition=\"{condition}\"/>".encode())


async def test_a_legacy_client_gets_http_error_codes(bosh_web: Any) -> None:
    # XEP-0124 §17.1: no 'ver' in the session creation request: the deprecated HTTP codes.
    c = BoshClient.for_web(bosh_web)
    created = await c.create(ver=None)
    assert created.status == 200 and "ver" not in created.el.attrib
    r = await c.send(rid=c.rid + 10)  # beyond the window
    assert (r.status, r.condition) == (404, "item-not-found")


# -- login and stanzas -------------------------------------------------------------------------

async def test_plain_login_restart_bind_and_roster(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    jid = await c.login("alice", resource="web")  # asserts each step's response
    assert jid == "alice@localhost/web"
    session = session_of(bosh_web, jid)
    assert session is not None and session.transport == "bosh"
    # The reply to a request's stanza leaves with the response to that very request.
    r = await c.send(f"<iq xmlns='{CLIENT}' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    assert r.elapsed < 1.0
    [iq] = r.payloads
    assert (iq.tag, iq.get("type"), iq.get("id"), iq.get("to")) == (f"{{{CLIENT}}}iq", "result", "r1", jid)
    assert iq.find("{jabber:iq:roster}query") is not None


async def test_a_held_request_is_woken_by_a_message_from_a_tcp_user(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice", wait=30)
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp")
    poll = c.send_later(timeout=10)
    await reached(bosh_web, c)
    assert not poll.done()  # held: nothing to say yet
    bob.send_message(mto=alice, mbody="wake up", mtype="chat")
    r = await poll
    assert r.elapsed < 2.0  # answered on delivery, not after 'wait'
    [msg] = r.payloads
    assert (msg.tag, msg.get("from"), msg.get("to"), msg.findtext(f"{{{CLIENT}}}body")) == (
        f"{{{CLIENT}}}message", "bob@localhost/tcp", alice, "wake up")
    # And the other way: a stanza in a request goes straight to the TCP user.
    poll = c.send_later(timeout=10)
    await reached(bosh_web, c)
    sent = c.send_later(message("bob@localhost/tcp", "hello tcp"), timeout=10)
    got = await bob.next_message()
    assert (str(got["from"]), got["body"]) == (alice, "hello tcp")
    assert (await poll).payloads == []  # §8: the older request is released, the newer one held
    assert not sent.done()
    await c.send(type="terminate")
    assert (await sent).type == "terminate"  # §13: the oldest open request hears of the end


async def test_presence_broadcast_and_offline_messages(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    await subscribe_both("alice@localhost", "bob@localhost")
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp", presence=False)
    presences: asyncio.Queue[Any] = asyncio.Queue()
    bob.add_event_handler("presence", presences.put_nowait)
    bob.send_presence()
    bob.send_message(mto="alice@localhost", mbody="while you were out", mtype="chat")
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice")
    await settle(bob)  # bob's presence and message processed: the message is stored offline
    r = await c.send(f"<presence xmlns='{CLIENT}'><status>on bosh</status></presence>")
    got = r.payloads
    while not any(el.tag == f"{{{CLIENT}}}message" for el in got):
        got += (await c.send()).payloads
    [stored] = [el for el in got if el.tag == f"{{{CLIENT}}}message"]
    assert stored.findtext(f"{{{CLIENT}}}body") == "while you were out"
    assert stored.find("{urn:xmpp:delay}delay") is not None  # XEP-0203 on the offline flush
    assert any(el.tag == f"{{{CLIENT}}}presence" and el.get("from") == "bob@localhost/tcp" for el in got)
    seen = await presence_from(presences, alice, None)
    assert seen["status"] == "on bosh"
    await c.send(type="terminate")
    await presence_from(presences, alice, "unavailable")


# -- rid order, retransmission, acks (§9, §14) ---------------------------------------------------

async def test_out_of_order_requests_are_processed_in_rid_order(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    await c.login("alice", wait=1)
    first, second = c.next_rid(), c.next_rid()
    later = c.send_later(PING.format(id="second"), rid=second)
    await reached(bosh_web, c, second)
    assert not later.done()  # waits for the missing rid (§14.1)
    r = await c.send(PING.format(id="first"), rid=first)
    assert [(el.get("type"), el.get("id")) for el in r.payloads] == [("result", "first"), ("result", "second")]
    held = await later  # held until 'wait' (1 s) with nothing to say
    assert held.payloads == [] and 0.9 <= held.elapsed < 3


async def test_a_repeated_rid_gets_the_same_bytes_and_an_old_or_far_rid_ends_the_session(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    jid = await c.login("alice")
    r = await c.send(PING.format(id="p1"))
    assert [el.get("id") for el in r.payloads] == ["p1"]
    again = await c.send(PING.format(id="p1"), rid=c.rid)
    assert again.body == r.body  # §14.3: the buffered copy, not a second answer
    assert (await c.send(rid=c.rid + 3)).condition == "item-not-found"  # §14.1: beyond the window
    assert (await c.send()).condition == "item-not-found"  # the session is gone ...
    await wait_for(lambda: session_of(bosh_web, jid) is None)  # ... and so is the XMPP session


async def test_a_repeated_held_request_takes_over(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice")
    rid = c.next_rid()
    first = c.send_later(rid=rid)
    await reached(bosh_web, c, rid)
    second = c.send_later(rid=rid)
    assert (await first).type == "error"  # §14.3: a recoverable binding condition
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp")
    bob.send_message(mto=alice, mbody="to the new one", mtype="chat")
    r = await second
    assert [el.findtext(f"{{{CLIENT}}}body") for el in r.payloads] == ["to the new one"]


async def test_a_held_request_whose_client_went_away_loses_nothing(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice")
    _, writer = await asyncio.open_connection(bosh_web.host, bosh_web.port)
    data = body(rid=c.next_rid(), sid=c.sid)
    writer.write(b"POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
    await writer.drain()
    await reached(bosh_web, c)
    writer.close()  # the browser navigated away with the request held
    connection = table_for(bosh_web.xmpp.server).get(c.sid)
    await wait_for(lambda: not connection.waiters)
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp")
    bob.send_message(mto=alice, mbody="kept for you", mtype="chat")
    await settle(bob)  # routed to alice's BOSH session
    r = await c.send()
    assert r.elapsed < 1.0 and [el.findtext(f"{{{CLIENT}}}body") for el in r.payloads] == ["kept for you"]


async def test_acknowledgements(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    await c.login("alice", ack="1")
    assert c.created.el.get("ack") == str(c.created_rid)  # §9.1: the server acknowledges too
    held = c.send_later()
    await reached(bosh_web, c)
    pinged = c.send_later(PING.format(id="acked"), ack=str(c.rid - 1))
    # The held request carries the answer; it went out after a later request arrived, so its
    # 'ack' names the highest rid received.
    r = await held
    assert r.el.get("ack") == str(c.rid) and [el.get("id") for el in r.payloads] == ["acked"]
    await c.send(type="terminate")
    assert (await pinged).type == "terminate"


# -- pause, overactivity, terminate, inactivity (§10-§13) ---------------------------------------

async def test_pause_answers_at_once_and_stretches_inactivity(bosh_web: Any, settings: Any) -> None:
    settings.XMPP_BOSH_MAX_INACTIVITY = 1
    settings.XMPP_BOSH_MAX_PAUSE = 10
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    created = await c.create()
    assert (created.el.get("inactivity"), created.el.get("maxpause")) == ("1", "10")
    held = c.send_later()
    await reached(bosh_web, c)
    paused = await c.send(pause="3")
    assert paused.elapsed < 0.5 and paused.payloads == [] and (await held).elapsed < 1
    await asyncio.sleep(1.5)  # the thing under test: longer than 'inactivity', shorter than the pause
    back = c.send_later()
    await reached(bosh_web, c)
    assert (await c.send(type="terminate")).type is None and (await back).type == "terminate"


async def test_polling_too_frequently_is_a_policy_violation(bosh_web: Any) -> None:
    c = BoshClient.for_web(bosh_web)
    created = await c.create(hold=0)  # a polling session (§12)
    assert (created.el.get("hold"), created.el.get("requests"), created.el.get("polling")) == ("0", "1", "2")
    first = await c.send()
    assert first.payloads == [] and first.elapsed < 0.5  # hold 0: never held
    second = await c.send()
    assert (second.type, second.condition) == ("terminate", "policy-violation")
    assert (await c.send()).condition == "item-not-found"


async def test_too_many_simultaneous_requests_is_a_policy_violation(bosh_web: Any) -> None:
    c = BoshClient.for_web(bosh_web)
    await c.create(hold=1)  # requests = 2
    held = c.send_later()
    await reached(bosh_web, c)
    skipped = c.next_rid()
    ahead = c.send_later(f"<presence xmlns='{CLIENT}'/>", rid=skipped + 1)  # waits for the rid before it
    await reached(bosh_web, c, skipped + 1)
    r = await c.send(f"<presence xmlns='{CLIENT}'/>", rid=skipped)  # a third one at once (§11)
    assert r.condition == "policy-violation"
    assert [(await held).condition, (await ahead).condition] == ["other-request", "other-request"]


async def test_terminate_sends_unavailable_presence_to_a_contact(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    await subscribe_both("alice@localhost", "bob@localhost")
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp", presence=False)
    presences: asyncio.Queue[Any] = asyncio.Queue()
    bob.add_event_handler("presence", presences.put_nowait)
    bob.send_presence()
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice")
    await c.send(f"<presence xmlns='{CLIENT}'/>")
    await presence_from(presences, alice, None)
    held = c.send_later()
    await reached(bosh_web, c)
    r = await c.send(f"<presence xmlns='{CLIENT}' type='unavailable'><status>bye</status></presence>",
                     type="terminate")
    # §13: the oldest open request hears of the end; the terminate request gets an empty body.
    assert (await held).type == "terminate" and (r.type, r.payloads) == (None, [])
    gone = await presence_from(presences, alice, "unavailable")
    assert gone["status"] == "bye"
    assert c.sid not in table_for(bosh_web.xmpp.server).by_sid and session_of(bosh_web, alice) is None
    assert (await c.send()).condition == "item-not-found"


async def test_inactivity_ends_the_session_with_unavailable_presence(bosh_web: Any, settings: Any) -> None:
    settings.XMPP_BOSH_MAX_INACTIVITY = 1
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    await subscribe_both("alice@localhost", "bob@localhost")
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp", presence=False)
    presences: asyncio.Queue[Any] = asyncio.Queue()
    bob.add_event_handler("presence", presences.put_nowait)
    bob.send_presence()
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice")
    await c.send(f"<presence xmlns='{CLIENT}'/>")
    await presence_from(presences, alice, None)
    started = time.monotonic()
    await presence_from(presences, alice, "unavailable")  # the client stopped asking (§10)
    assert 0.8 < time.monotonic() - started < 3
    assert session_of(bosh_web, alice) is None and c.sid not in table_for(bosh_web.xmpp.server).by_sid
    assert (await c.send()).condition == "item-not-found"


async def test_stanzas_left_in_an_expired_session_are_not_lost(bosh_web: Any, settings: Any) -> None:
    settings.XMPP_BOSH_MAX_INACTIVITY = 1
    await bosh_web.xmpp.add_user("alice")
    await bosh_web.xmpp.add_user("bob")
    c = BoshClient.for_web(bosh_web)
    alice = await c.login("alice", resource="gone")
    await c.send(f"<presence xmlns='{CLIENT}'/>")
    bob = await connect(bosh_web.xmpp, "bob@localhost", resource="tcp")
    bob.send_message(mto=alice, mbody="did you get this?", mtype="chat")  # queued: nobody polls
    await wait_for(lambda: session_of(bosh_web, alice) is None, timeout=4)
    # XEP-0206 §8 / RFC 6121 §8.5.3.2.1: routed again, to the offline store.
    later = await connect(bosh_web.xmpp, "alice@localhost", resource="tcp")
    got = await later.next_message()
    assert (got["body"], str(got["from"])) == ("did you get this?", "bob@localhost/tcp")


async def test_a_resource_conflict_is_a_remote_stream_error(bosh_web: Any) -> None:
    await bosh_web.xmpp.add_user("alice")
    c = BoshClient.for_web(bosh_web)
    await c.login("alice", resource="same")
    held = c.send_later()
    await reached(bosh_web, c)
    await connect(bosh_web.xmpp, "alice@localhost", resource="same")
    r = await held
    assert (r.type, r.condition) == ("terminate", "remote-stream-error")  # XEP-0206 §7
    assert r.el.nsmap.get("stream") == STREAM
    [error] = r.payloads
    assert error.tag == f"{{{STREAM}}}error" and error[0].tag == f"{{{STREAMS_ERR}}}conflict"


async def test_server_shutdown_ends_bosh_sessions(bosh_web: Any) -> None:
    c = BoshClient.for_web(bosh_web)
    await c.create()
    held = c.send_later()
    await reached(bosh_web, c)
    table_for(bosh_web.xmpp.server).shutdown()  # what the server/stopping hook does
    r = await held
    assert (r.type, r.condition) == ("terminate", "system-shutdown")


async def test_long_polls_hold_no_thread(bosh_web: Any) -> None:
    clients = [BoshClient.for_web(bosh_web) for _ in range(20)]
    for c in clients:
        await c.create()
    table = table_for(bosh_web.xmpp.server)
    threads = threading.active_count()
    polls = [c.send_later(timeout=10) for c in clients]
    await wait_for(lambda: sum(len(conn.waiters) for conn in table.by_sid.values()) == 20)
    assert threading.active_count() == threads  # futures on the event loop, nothing else
    table.shutdown()
    assert {(await poll).condition for poll in polls} == {"system-shutdown"}


async def test_the_connection_limit_counts_bosh_sessions(make_web: Any) -> None:
    web = await make_web(max_connections=1)
    assert (await BoshClient.for_web(web).create()).el.get("sid")
    r = await BoshClient.for_web(web).create()
    assert (r.type, r.condition) == ("terminate", "remote-stream-error")
    assert r.el.find(f"{{{STREAM}}}error/{{{STREAMS_ERR}}}resource-constraint") is not None
    table_for(web.xmpp.server).shutdown()


# -- HTTP: CORS, methods -----------------------------------------------------------------------

async def test_cors_and_methods(bosh_web: Any, settings: Any) -> None:
    host, port = bosh_web.host, bosh_web.port
    pre = await http(host, port, "OPTIONS", "/http-bind", headers={
        "Origin": "https://chat.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status == 200 and pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert pre.headers["access-control-allow-headers"] == "Content-Type"
    c = BoshClient.for_web(bosh_web)
    created = await c.post(body(rid=c.rid, to="localhost", ver="1.11"), headers={"Origin": "https://chat.example"})
    assert created.headers["access-control-allow-origin"] == "*" and created.el.get("sid")

    settings.XMPP_BOSH_CORS_ORIGINS = ["https://chat.example"]
    ok = await http(host, port, "OPTIONS", "/http-bind", headers={"Origin": "https://chat.example"})
    assert ok.headers["access-control-allow-origin"] == "https://chat.example" and ok.headers["vary"] == "Origin"
    refused = await http(host, port, "POST", "/http-bind", body(rid=1, to="localhost"),
                         headers={"Origin": "https://evil.example"})
    assert refused.status == 403 and "access-control-allow-origin" not in refused.headers
    no_origin = await http(host, port, "POST", "/http-bind", body(rid=1, to="localhost", ver="1.11"))
    assert no_origin.status == 200 and no_origin.el.get("sid")  # not a browser: served

    info = await http(host, port, "GET", "/http-bind")
    assert info.status == 200 and b"XEP-0124" in info.body
    assert (await http(host, port, "PUT", "/http-bind")).status == 405
    # The rest of the site is still Django's.
    assert (await http(host, port, "GET", "/.well-known/host-meta.json")).status == 200


# -- two nodes: a BOSH session reached over the Redis channel layer ------------------------------

async def test_bosh_session_on_one_node_chats_with_a_tcp_user_on_another(
        make_server: Any, make_web: Any, redis_layer: Any) -> None:
    prefix = f"xmppsite-test-{secrets.token_hex(4)}"
    tcp_node = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    web_node = await make_web(redis_url=REDIS_URL, cluster_prefix=prefix)
    await tcp_node.add_user("alice")
    await tcp_node.add_user("bob")
    c = BoshClient.for_web(web_node)
    alice = await c.login("alice", resource="web")
    assert session_of(web_node, alice).channel_name  # reachable from other processes
    bob = await connect(tcp_node, "bob@localhost", resource="tcp")
    await wait_for(lambda: tcp_node.server.sessions.get(JID.parse(alice)) is not None)
    bob.send_message(mto=alice, mbody="from the other node", mtype="chat")
    got = await c.collect(f"{{{CLIENT}}}message")
    assert got.get("from") == "bob@localhost/tcp" and got.findtext(f"{{{CLIENT}}}body") == "from the other node"
    sent = c.send_later(message("bob@localhost/tcp", "and back"))
    reply = await bob.next_message()
    assert str(reply["from"]) == alice and reply["body"] == "and back"
    await c.send(type="terminate")
    assert (await sent).type == "terminate"


async def test_bosh_user_on_an_http_only_process_chats_with_a_tcp_user(split_server: dict[str, int]) -> None:
    """`xmppd --only http` and `xmppd --only c2s` joined by Redis (tests/xmppd/test_split_processes.py)."""
    alice = await tcp_login(split_server["c2s"], "alice")
    c = BoshClient("127.0.0.1", split_server["http"])
    bob = await c.login("bob", resource="web")
    poll = c.send_later(f"<presence xmlns='{CLIENT}'/>", timeout=10)
    # Bob's session is bound in the HTTP process; the c2s process learns it through Redis.
    got: list[Any] = []
    for attempt in range(50):
        alice.send(f"<message to='{bob}' id='m{attempt}' type='chat'><body>hi bob</body></message>")
        done, _ = await asyncio.wait({poll}, timeout=0.3)
        if done:
            got = [el for el in poll.result().payloads if el.tag == f"{{{CLIENT}}}message"]
            if got:
                break
            poll = c.send_later(timeout=10)
    else:
        raise AssertionError("the message never crossed processes")
    assert got[0].get("from") == "alice@localhost/tcp" and got[0].findtext(f"{{{CLIENT}}}body") == "hi bob"
    sent = c.send_later(message("alice@localhost/tcp", "hi alice"), timeout=10)
    data = await alice.read_until(rb"hi alice", timeout=10)
    assert f'from="{bob}"'.encode() in data
    await c.send(type="terminate")
    assert (await sent).status == 200  # it may carry one of alice's retries
    alice.close()


# -- Daphne for real: `manage.py xmppd` (http:// and https:// on its ports) ----------------------

@pytest.fixture(scope="module")
def daphne_xmppd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The operator's defaults (TLS required), alice and bob (password "secret")."""
    data = tmp_path_factory.mktemp("bosh-xmppd")
    env = child_env(data, drop=("XMPP_*", "DATABASE_URL"), XMPP_LOG_LEVEL="WARNING")
    migrate_with_users(env, "alice", "bob")
    xmppd = start_xmppd(env, data)
    try:
        yield dict(xmppd.ports)
    finally:
        xmppd.stop(timeout=10)


async def test_daphne_serves_bosh_on_http_and_https(daphne_xmppd: dict[str, Any]) -> None:
    # TLS is required by default: plain http:// offers no way to authenticate, https:// does.
    plain = BoshClient("127.0.0.1", daphne_xmppd["http"])
    r = await plain.create()
    assert r.el.get("sid") and r.el.find(f"{{{STREAM}}}features/{{{SASL}}}mechanisms") is None
    alice = BoshClient("127.0.0.1", daphne_xmppd["https"], tls=True)
    bob = BoshClient("127.0.0.1", daphne_xmppd["https"], tls=True)
    alice_jid = await alice.login("alice", wait=30)
    bob_jid = await bob.login("bob", wait=30)
    # A plain-HTTP request in a session made over HTTPS is refused (XEP-0124 §19), the session kept.
    sneaky = BoshClient("127.0.0.1", daphne_xmppd["http"], sid=bob.sid, rid=bob.rid + 1)
    assert (await sneaky.send()).status == 403
    held = bob.send_later(timeout=10)
    # Another process: no state to watch. Time for the request to reach Daphne, then check it is held.
    await asyncio.sleep(0.3)
    assert not held.done()
    sent = alice.send_later(message(bob_jid, "over Daphne"), timeout=10)  # held: nothing comes back
    r = await held
    assert r.elapsed < 2 and [(el.get("from"), el.findtext(f"{{{CLIENT}}}body")) for el in r.payloads] == [
        (alice_jid, "over Daphne")]
    assert not sent.done()
    assert (await alice.send(type="terminate")).type is None and (await sent).type == "terminate"
    assert (await bob.send(type="terminate")).type == "terminate"
