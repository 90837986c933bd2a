"""One server, two processes joined by Redis: `xmppd --only c2s` serves TCP clients,
`xmppd --only http` serves WebSocket clients (issue 3: "each part can also run as its own
process ... joined by the Redis channel layer"). A TCP user and a WebSocket user chat."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
from pathlib import Path
from typing import Iterator

import pytest
import websockets

from tests.clients import RawClient, header
from tests.support.ports import HOST, free_ports
from tests.support.process import MANAGE, Spawned, child_env, manage, spawn
from tests.xmppd.test_process import SCRUBBED

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


@pytest.fixture
def split_server(tmp_path: Path) -> Iterator[dict[str, int]]:
    c2s, tls, http, https = free_ports(4)
    env = child_env(tmp_path, drop=SCRUBBED, REDIS_URL=REDIS_URL, XMPP_REQUIRE_TLS="false",
                    XMPP_CLUSTER_PREFIX=f"xmppsite-split-{secrets.token_hex(4)}",
                    XMPP_C2S_PORT=str(c2s), XMPP_TLS_PORT=str(tls), XMPP_HTTP_PORT=str(http),
                    XMPP_HTTPS_PORT=str(https))
    manage(env, "migrate", "--noinput")
    manage(env, "adduser", "alice@localhost", "--password", "secret")
    manage(env, "adduser", "bob@localhost", "--password", "secret")
    procs: list[Spawned] = []
    try:
        procs.append(spawn([*MANAGE, "xmppd", "--only", "c2s"], env=env, workdir=tmp_path, name="c2s",
                           wait_ports=(c2s, tls), ready="Log in with"))
        procs.append(spawn([*MANAGE, "xmppd", "--only", "http"], env=env, workdir=tmp_path, name="http",
                           wait_ports=(http, https), ready="HTTP only"))
        yield {"c2s": c2s, "http": http}
    finally:
        for proc in procs:
            proc.stop()


async def tcp_login(port: int, user: str) -> RawClient:
    raw = await RawClient.open(HOST, port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
             + base64.b64encode(f"\0{user}\0secret".encode()).decode() + "</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>tcp</resource></bind></iq>")
    await raw.read_until(rb"</iq>")
    raw.send("<presence/>")
    raw.take()
    return raw


async def ws_recv_until(ws: websockets.ClientConnection, pattern: str) -> str:
    while True:
        frame = await asyncio.wait_for(ws.recv(), 10)
        if re.search(pattern, frame):
            return frame


async def ws_login(port: int, user: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://{HOST}:{port}/xmpp-websocket", subprotocols=["xmpp"])
    await ws.send(f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")
    await ws_recv_until(ws, "<stream:features|<features")
    await ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                  + base64.b64encode(f"\0{user}\0secret".encode()).decode() + "</auth>")
    await ws_recv_until(ws, "<success")
    await ws.send(f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")
    await ws_recv_until(ws, "<stream:features|<features")
    await ws.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>web</resource></bind></iq>")
    await ws_recv_until(ws, "bob@localhost/web")
    await ws.send("<presence xmlns='jabber:client'/>")
    return ws


async def test_tcp_user_and_websocket_user_on_two_processes(split_server: dict[str, int]) -> None:
    alice = await tcp_login(split_server["c2s"], "alice")
    bob = await ws_login(split_server["http"], "bob")
    # Bob's session is bound in the HTTP process; the c2s process learns it through Redis.
    for attempt in range(50):
        alice.send(f"<message to='bob@localhost/web' id='m{attempt}' type='chat'><body>hi bob</body></message>")
        try:
            frame = await asyncio.wait_for(ws_recv_until(bob, "hi bob"), 0.3)
            break
        except asyncio.TimeoutError:
            continue
    else:
        raise AssertionError("the message never crossed processes")
    assert 'from="alice@localhost/tcp"' in frame and 'xmlns="jabber:client"' in frame
    await bob.send("<message xmlns='jabber:client' to='alice@localhost/tcp' type='chat'><body>hi alice</body></message>")
    data = await alice.read_until(rb"hi alice", timeout=10)
    assert b'from="bob@localhost/web"' in data
    await bob.close()
    alice.close()
