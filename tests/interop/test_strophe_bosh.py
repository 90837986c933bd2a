"""Strophe.js (npm `strophe.js`) over BOSH (XEP-0124, XEP-0206), run under node against the
test server, talking to a slixmpp user on TCP: session creation, SASL (SCRAM), restart,
bind, roster, presence both ways, a message each way, and a type='terminate' logout whose
unavailable presence the TCP user sees."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from tests.clients import connect
from tests.interop.jsclients import INTEROP, node_command, node_modules, subscribe_both  # noqa: F401
from tests.transports.conftest import WebServer, make_web, web  # noqa: F401 (fixtures)
from xmppcore.jid import JID
from xmppd.transports.bosh import table_for


async def next_event(proc: asyncio.subprocess.Process, events: list[dict], timeout: float = 15.0) -> dict:
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        err = (await proc.stderr.read()).decode()
        raise AssertionError(f"node exited ({await proc.wait()}); events {events}; stderr:\n{err}")
    event = json.loads(raw)
    events.append(event)
    assert event["event"] != "error", events
    return event


async def test_strophe_over_bosh_chats_with_a_tcp_user(web: WebServer, node_modules: None) -> None:
    await web.xmpp.add_user("alice", "wonderland")
    await web.xmpp.add_user("bob")
    await subscribe_both("alice@localhost", "bob@localhost")
    bob = await connect(web.xmpp, "bob@localhost", resource="tcp", presence=False)
    presences: asyncio.Queue[Any] = asyncio.Queue()
    bob.add_event_handler("presence", presences.put_nowait)
    bob.add_event_handler("message", lambda m: m["body"] and bob.send_message(
        mto=m["from"], mbody=f"slixmpp got: {m['body']}", mtype="chat"))
    await asyncio.wait_for(bob.get_roster(), 5)
    bob.send_presence(pstatus="on tcp")

    proc = await asyncio.create_subprocess_exec(
        *node_command("strophe_bosh.mjs", web.url("/http-bind"), "localhost", "alice", "wonderland",
                      "bob@localhost"),
        cwd=INTEROP, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    events: list[dict] = []
    try:
        # Strophe asks for ver 1.6, wait 60, hold 1: the server grants at most that (XEP-0124 §7.1).
        assert await next_event(proc, events) == {
            "event": "session", "ver": "1.6", "wait": "60", "hold": "1", "requests": "2", "from": "localhost",
            "xmpp:version": "1.0", "xmpp:restartlogic": "true"}
        assert await next_event(proc, events) == {"event": "auth", "mechanism": "SCRAM-SHA-256"}
        assert await next_event(proc, events) == {"event": "online", "jid": "alice@localhost/strophe"}
        assert await next_event(proc, events) == {"event": "roster", "items": ["bob@localhost"]}
        seen = await next_event(proc, events)
        assert seen == {"event": "presence", "from": "bob@localhost/tcp", "type": "available", "status": "on tcp"}
        reply = await next_event(proc, events)
        assert reply == {"event": "message", "from": "bob@localhost/tcp", "body": "slixmpp got: hello from strophe"}
        assert await next_event(proc, events) == {"event": "terminate"}
        assert await next_event(proc, events) == {"event": "done"}
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def bob_sees(predicate: Callable[[Any], bool]) -> Any:
        while True:
            p = await asyncio.wait_for(presences.get(), 5)
            if predicate(p):
                return p

    available = await bob_sees(lambda p: str(p["from"]) == "alice@localhost/strophe" and p.xml.get("type") is None)
    assert available["status"] == "on strophe"
    # The unavailable presence rode in Strophe's terminate body (XEP-0124 §13).
    await bob_sees(lambda p: str(p["from"]) == "alice@localhost/strophe" and p.xml.get("type") == "unavailable")
    assert web.xmpp.server.sessions.resources(JID.parse("alice@localhost")) == []
    assert len(table_for(web.xmpp.server)) == 0
