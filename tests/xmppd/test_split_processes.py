"""One server, two processes joined by Redis: `xmppd --only c2s` serves TCP clients,
`xmppd --only http` serves WebSocket clients (issue 3: "each part can also run as its own
process ... joined by the Redis channel layer"). A TCP user and a WebSocket user chat."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import websockets

from tests.clients import RawClient, header
from tests.xmppd.test_process import HOST, ROOT, SCRUBBED, free_ports, manage

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def start(env: dict[str, str], only: str, workdir: Path, ready: str) -> subprocess.Popen:
    out = workdir / f"{only}.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen([sys.executable, "manage.py", "xmppd", "--only", only], cwd=ROOT, env=env,
                                stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while ready not in out.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"xmppd --only {only} did not start:\n{out.read_text()}")
        time.sleep(0.05)
    return proc


@pytest.fixture
def split_server(tmp_path: Path) -> Iterator[dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    c2s, tls, http, https = free_ports(4)
    env.update({
        "XMPP_DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "XMPP_BIND": HOST, "REDIS_URL": REDIS_URL, "XMPP_REQUIRE_TLS": "false",
        "XMPP_CLUSTER_PREFIX": f"xmppsite-split-{secrets.token_hex(4)}",
        "XMPP_C2S_PORT": str(c2s), "XMPP_TLS_PORT": str(tls), "XMPP_HTTP_PORT": str(http),
        "XMPP_HTTPS_PORT": str(https), "PYTHONUNBUFFERED": "1",
    })
    manage(env, "migrate", "--noinput")
    manage(env, "adduser", "alice@localhost", "--password", "secret")
    manage(env, "adduser", "bob@localhost", "--password", "secret")
    procs = [start(env, "c2s", tmp_path, "Log in with"), start(env, "http", tmp_path, "HTTP only")]
    try:
        yield {"c2s": c2s, "http": http}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


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
