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
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import slixmpp

from tests.clients import RawClient, header, stream_error_condition
from tests.conftest import client_ssl_context

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
EXIT_TIMEOUT = 5.0
# Variables that would change what the operator's defaults are; the subprocess must not inherit them.
SCRUBBED = ("XMPP_REQUIRE_TLS", "XMPP_DOMAINS", "XMPP_TLS_CERT", "XMPP_TLS_KEY", "DATABASE_URL",
            "DJANGO_SECRET_KEY", "XMPP_ALLOW_REGISTRATION")


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out (all bound at once, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def operator_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private data dir and SQLite file, migrated, with alice@localhost (password "secret")."""
    data = tmp_path_factory.mktemp("xmppd-data")
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update({
        "XMPP_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'xmppsite.sqlite3'}",
        "XMPP_BIND": HOST,
        # With REDIS_URL the server is a cluster node: keep its Redis keys apart from any other.
        "XMPP_CLUSTER_PREFIX": f"xmppsite-test-process-{os.getpid()}-{data.name}",
        "XMPP_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    manage(env, "migrate", "--noinput")
    out = manage(env, "adduser", "alice@localhost", "--password", "secret")
    assert "alice@localhost" in out.stdout
    return env


@dataclass
class Xmppd:
    """A running `manage.py xmppd`: its process, its ports and what it printed."""

    proc: subprocess.Popen
    c2s: int
    tls: int
    http: int
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"xmppd still running {timeout}s after SIGTERM:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode


def start_xmppd(env: dict[str, str], workdir: Path, attempts: int = 3) -> Xmppd:
    """Start the server on fresh ports; retry if another process grabbed one of them meanwhile."""
    for _ in range(attempts - 1):
        try:
            return start_once(env, workdir)
        except AssertionError as exc:
            if "already in use" not in str(exc):
                raise
    return start_once(env, workdir)


def start_once(env: dict[str, str], workdir: Path) -> Xmppd:
    """Start the server on fresh ports and wait for its login instructions on stdout."""
    c2s, tls, http, https = free_ports(4)
    env = dict(env, XMPP_C2S_PORT=str(c2s), XMPP_TLS_PORT=str(tls), XMPP_HTTP_PORT=str(http),
               XMPP_HTTPS_PORT=str(https))
    stdout, stderr = workdir / "xmppd.out", workdir / "xmppd.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "manage.py", "xmppd"], cwd=ROOT, env=env,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    running = Xmppd(proc, c2s, tls, http, stdout, stderr)
    deadline = time.monotonic() + START_TIMEOUT
    while "Log in with" not in stdout.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_xmppd(running)
            raise AssertionError(f"xmppd did not start (status {proc.returncode}):\n{running.output()}")
        time.sleep(0.05)
    return running


def stop_xmppd(running: Xmppd) -> None:
    """SIGTERM first (a cluster node then removes its sessions from Redis), SIGKILL if it hangs."""
    if running.proc.poll() is None:
        running.proc.terminate()
        try:
            running.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            running.proc.kill()
    running.proc.wait(timeout=10)


@pytest.fixture
def xmppd(operator_env: dict[str, str], tmp_path: Path) -> Iterator[Xmppd]:
    """One server process per test, killed at the end whatever happened."""
    running = start_xmppd(operator_env, tmp_path)
    try:
        yield running
    finally:
        stop_xmppd(running)


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
        done = subprocess.run([sys.executable, "manage.py", "xmppd"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "could not start" in done.stderr + done.stdout
