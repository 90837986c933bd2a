"""`manage.py xmppd` as an operator runs it: a subprocess with its own data dir, database and ports.

These tests do not use the pytest-django database: the subprocess gets a fresh SQLite file
(migrated and populated with `manage.py migrate` / `manage.py adduser`), even when the
outer run uses PostgreSQL. REDIS_URL is passed through so CI exercises the Redis layer too.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
import slixmpp

from tests.clients import RawClient, header, stream_error_condition
from tests.conftest import client_ssl_context
from tests.support.ports import free_ports
from tests.support.process import MANAGE, ROOT, Spawned, child_env, manage, start_xmppd

HOST = "127.0.0.1"
EXIT_TIMEOUT = 5.0
# Variables that would change what the operator's defaults are; the subprocess must not inherit them.
SCRUBBED = ("XMPP_REQUIRE_TLS", "XMPP_DOMAINS", "XMPP_TLS_CERT", "XMPP_TLS_KEY", "DATABASE_URL",
            "DJANGO_SECRET_KEY", "XMPP_ALLOW_REGISTRATION")


@pytest.fixture(scope="module")
def operator_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private data dir and SQLite file, migrated, with alice@localhost (password "secret")."""
    data = tmp_path_factory.mktemp("xmppd-data")
    env = child_env(data, drop=SCRUBBED,
                    # With REDIS_URL the server is a cluster node: keep its Redis keys apart from any other.
                    XMPP_CLUSTER_PREFIX=f"xmppsite-test-process-{os.getpid()}-{data.name}",
                    XMPP_LOG_LEVEL="INFO")
    manage(env, "migrate", "--noinput")
    out = manage(env, "adduser", "alice@localhost", "--password", "secret")
    assert "alice@localhost" in out.stdout
    return env


class Xmppd:
    """A running `manage.py xmppd` seen by port name."""

    def __init__(self, spawned: Spawned) -> None:
        self.spawned = spawned
        self.proc = spawned.proc
        self.stdout = spawned.stdout
        self.c2s, self.tls, self.http = (spawned.ports[name] for name in ("c2s", "tls", "http"))

    def output(self) -> str:
        return self.spawned.output()

    async def wait_exit(self, timeout: float) -> int:
        return await self.spawned.wait_exit(timeout)


@pytest.fixture
def xmppd(operator_env: dict[str, str], tmp_path: Path) -> Iterator[Xmppd]:
    """One server process per test, stopped at the end whatever happened."""
    running = start_xmppd(operator_env, tmp_path)
    try:
        yield Xmppd(running)
    finally:
        running.stop()


# -- clients ---------------------------------------------------------------------------

class Client(slixmpp.ClientXMPP):
    """slixmpp accepting the server's self-signed certificate, recording messages and stream errors."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.ssl_context = client_ssl_context()
        self.stream_errors: asyncio.Queue[Any] = asyncio.Queue()
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.add_event_handler("stream_error", self.stream_errors.put_nowait)
        self.add_event_handler("message", self.messages.put_nowait)


async def login(port: int, *, direct_tls: bool, clients: list[Client]) -> Client:
    """Log alice in over STARTTLS (c2s port) or direct TLS (TLS port); never in plaintext."""
    client = Client("alice@localhost/ops", "secret")
    client.enable_direct_tls = direct_tls
    client.enable_starttls = not direct_tls
    client.enable_plaintext = False
    loop = asyncio.get_running_loop()
    started, failed = loop.create_future(), loop.create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    client.add_event_handler("failed_auth", lambda _: failed.done() or failed.set_result("failed_auth"))
    clients.append(client)
    client.connect(HOST, port)
    done, _ = await asyncio.wait([started, failed], timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert started in done, f"login failed: {failed.result() if failed.done() else 'timeout'}"
    return client


@pytest.fixture
async def clients() -> Any:
    made: list[Client] = []
    yield made
    for client in made:
        client.abort()


async def raw_plain_login(port: int) -> RawClient:
    """Direct TLS, SASL PLAIN, resource binding — byte by byte."""
    raw = await RawClient.open(HOST, port, tls=True)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    token = base64.b64encode(b"\0alice\0secret").decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"<success.*</stream:features>")
    raw.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<resource>raw</resource></bind></iq>")
    bound = await raw.read_until(rb"<jid>[^<]+</jid>")
    assert b"<jid>alice@localhost/raw</jid>" in bound
    raw.take()
    return raw


# -- tests -----------------------------------------------------------------------------

def test_prints_login_instructions(xmppd: Xmppd) -> None:
    out = xmppd.stdout.read_text()
    assert f"c2s on {HOST}:{xmppd.c2s} (STARTTLS), direct TLS on {HOST}:{xmppd.tls}" in out
    assert f"Log in with any XMPP client as user@localhost on {HOST}:{xmppd.c2s}" in out
    assert "manage.py adduser alice@localhost" in out
    assert f"http://{HOST}:{xmppd.http}/admin/" in out


def test_http_serves_the_admin_login_page(xmppd: Xmppd) -> None:
    with urllib.request.urlopen(f"http://{HOST}:{xmppd.http}/admin/login/", timeout=5) as resp:
        body = resp.read().decode()
        assert resp.status == 200
    assert 'name="csrfmiddlewaretoken"' in body and 'name="username"' in body


async def test_tls_is_required_by_default(xmppd: Xmppd) -> None:
    raw = await RawClient.open(HOST, xmppd.c2s)
    try:
        raw.send(header())
        features = await raw.read_until(rb"</stream:features>")
    finally:
        raw.close()
    assert b'<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"><required/></starttls>' in features
    assert b"<mechanisms" not in features


async def test_starttls_and_scram_login(xmppd: Xmppd, clients: list[Client]) -> None:
    client = await login(xmppd.c2s, direct_tls=False, clients=clients)
    assert "starttls" in client.features
    assert client["feature_mechanisms"].mech.name.startswith("SCRAM-SHA-")
    assert str(client.boundjid) == "alice@localhost/ops"
    client.send_presence()
    client.send_message(mto="alice@localhost/ops", mbody="note to self", mtype="chat")
    msg = await asyncio.wait_for(client.messages.get(), 5)
    assert msg["body"] == "note to self" and str(msg["from"]) == "alice@localhost/ops"


async def test_direct_tls_login(xmppd: Xmppd, clients: list[Client]) -> None:
    client = await login(xmppd.tls, direct_tls=True, clients=clients)
    assert "starttls" not in client.features  # TLS came first, not by upgrade
    assert client["feature_mechanisms"].mech.name.startswith("SCRAM-SHA-")
    assert str(client.boundjid.bare) == "alice@localhost"


async def test_sigterm_sends_system_shutdown_and_exits_zero(xmppd: Xmppd, clients: list[Client]) -> None:
    raw = await raw_plain_login(xmppd.tls)
    client = await login(xmppd.c2s, direct_tls=False, clients=clients)
    xmppd.proc.send_signal(signal.SIGTERM)
    try:
        data = await raw.read_to_eof(timeout=EXIT_TIMEOUT)
    finally:
        raw.close()
    # RFC 6120 §4.9.3.21: the stream error, then the closing tag.
    assert stream_error_condition(data) == "system-shutdown"
    assert re.search(rb"<stream:error[^>]*><system-shutdown xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>"
                     rb"</stream:error></stream:stream>\s*$", data), data
    error = await asyncio.wait_for(client.stream_errors.get(), EXIT_TIMEOUT)
    assert error["condition"] == "system-shutdown"
    assert await xmppd.wait_exit(EXIT_TIMEOUT) == 0, xmppd.output()


def test_failed_start_exits_non_zero(operator_env: dict[str, str], tmp_path: Path) -> None:
    """A port already taken: the operator's supervisor must see the failure."""
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        tls, http, https = free_ports(3)
        env = dict(operator_env, XMPP_C2S_PORT=str(port), XMPP_TLS_PORT=str(tls), XMPP_HTTP_PORT=str(http),
                   XMPP_HTTPS_PORT=str(https))
        done = subprocess.run([*MANAGE, "xmppd"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "could not start" in done.stderr + done.stdout
