"""`manage.py xmppctl` against a real `manage.py xmppd` subprocess: with the server running,
every command goes through its local REST API (the token xmppd keeps in XMPP_DATA_DIR), so
live commands act on real sessions and long ones run on its embedded Celery worker.
Effects are checked with slixmpp clients and raw sockets connected to that server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from lxml import etree

from tests.clients import connect, stream_error_condition
from tests.commands.helpers import login_fails, raw_login
from tests.support.ports import HOST
from tests.support.process import MANAGE, ROOT, Spawned, child_env, manage, start_xmppd
from tests.support.waiting import wait_for

SCRUBBED = ("XMPP_REQUIRE_TLS", "XMPP_DOMAINS", "XMPP_TLS_CERT", "XMPP_TLS_KEY", "DATABASE_URL", "REDIS_URL",
            "DJANGO_SECRET_KEY", "XMPP_ALLOW_REGISTRATION", "XMPP_ADMINS", "XMPP_DOMAIN_ADMINS", "XMPP_ENV_FILE",
            "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "XMPP_MODULES")


@dataclass
class Server:
    """The subprocess, seen the way tests.clients.connect expects a server."""

    spawned: Spawned
    env: dict[str, str]
    data: Path
    host: str = HOST
    clients: list[Any] = field(default_factory=list)

    @property
    def proc(self) -> subprocess.Popen:
        return self.spawned.proc

    @property
    def port(self) -> int:
        return self.spawned.ports["c2s"]

    @property
    def http(self) -> int:
        return self.spawned.ports["http"]

    def output(self) -> str:
        return self.spawned.output()


async def ctl(server: Server, *words: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`manage.py xmppctl <words>` without blocking the loop (slixmpp clients keep running)."""
    proc = await asyncio.create_subprocess_exec(
        *MANAGE, "xmppctl", *words, cwd=ROOT, env=env or server.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def xmppd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("xmppctl-data")
    env = child_env(data, drop=SCRUBBED, XMPP_REQUIRE_TLS="false", XMPP_HTTPS_PORT="0")
    manage(env, "migrate", "--noinput")
    # No server yet: xmppctl writes the database itself.
    for user in ("alice", "bob"):
        done = manage(env, "xmppctl", "register", "--jid", f"{user}@localhost", "--password", "secret")
        assert done.stdout == "ok\n", done.stderr
    spawned = start_xmppd(env, data, ports=("c2s", "tls", "http"))
    try:
        yield Server(spawned, spawned.env, data)
    finally:
        spawned.stop(timeout=10)


@pytest.fixture
async def clients(xmppd: Server) -> Iterator[Server]:
    yield xmppd
    for client in xmppd.clients:
        client.abort()
    xmppd.clients.clear()
    # The server must have seen them go before the next test counts sessions.
    await wait_for(lambda: no_sessions(xmppd), 10, what="no session left on the server")


async def no_sessions(server: Server) -> bool:
    return (await asyncio.to_thread(api_get, server, "/api/stats"))["online_sessions"] == 0


async def online(server: Server, *users: str) -> list[Any]:
    """Log the users in and wait until the server reflected each one's initial presence."""
    out = []
    for user in users:
        client = await connect(server, f"{user}@localhost", resource="cli-test")
        available = asyncio.get_running_loop().create_future()
        client.add_event_handler("presence_available", lambda p, f=available, c=client: (
            p["from"] == c.boundjid and not f.done() and f.set_result(True)))
        await asyncio.wait_for(available, 5)
        out.append(client)
    return out


def api_get(server: Server, path: str) -> Any:
    """GET on the server's API with the local token (what xmppctl itself uses)."""
    info = json.loads((server.data / "xmppctl.json").read_text())
    request = urllib.request.Request(info["url"] + path, headers={"Authorization": f"Bearer {info['token']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def test_token_file_is_private_and_names_the_api(xmppd: Server) -> None:
    path = xmppd.data / "xmppctl.json"
    info = json.loads(path.read_text())
    assert info["url"] == f"http://{HOST}:{xmppd.http}" and info["pid"] == xmppd.proc.pid
    assert path.stat().st_mode & 0o777 == 0o600


async def test_live_commands_see_the_real_sessions(clients: Server) -> None:
    await online(clients, "alice")
    code, out, err = await ctl(clients, "stats", "--json")
    assert code == 0, err
    stats = json.loads(out)
    assert stats["registered_users"] >= 2 and stats["online_sessions"] == 1
    assert stats["sessions_by_transport"] == {"tcp": 1} and stats["uptime_seconds"] > 0
    code, out, _ = await ctl(clients, "list_sessions")
    assert out.splitlines()[0].split() == ["jid", "transport", "ip", "priority", "available", "connected_seconds"]
    assert "alice@localhost/cli-test  tcp" in out
    assert (await ctl(clients, "count_sessions"))[1] == "1\n"
    assert (await ctl(clients, "list_online_users"))[1] == "alice@localhost\n"
    code, out, _ = await ctl(clients, "user_sessions", "--jid", "alice@localhost", "--json")
    assert [s["jid"] for s in json.loads(out)] == ["alice@localhost/cli-test"]


async def test_kick_from_the_shell_closes_the_stream(clients: Server) -> None:
    raw = await raw_login(HOST, clients.port, "alice", resource="kicked")
    code, out, err = await ctl(clients, "kick_session", "--jid", "alice@localhost/kicked")
    assert code == 0 and out == "1\n", err
    assert stream_error_condition(await raw.read_to_eof()) == "policy-violation"
    code, _, err = await ctl(clients, "kick_session", "--jid", "alice@localhost/kicked")
    assert code == 1 and "not-found" in err


async def test_messages_and_announcements_from_the_shell(clients: Server) -> None:
    (alice,) = await online(clients, "alice")
    code, out, err = await ctl(clients, "announce_online", "--body", "Restart at noon")
    assert (code, out) == (0, "1\n"), err
    msg = await alice.next_message()
    assert msg["body"] == "Restart at noon" and msg["from"].full == "localhost"
    assert (await ctl(clients, "send_message", "--to", "alice@localhost", "--body", "hi",
                      "--sender", "bob@localhost", "--type", "chat"))[0] == 0
    msg = await alice.next_message()
    assert msg["body"] == "hi" and msg["from"].bare == "bob@localhost" and msg["type"] == "chat"


async def test_long_commands_run_on_the_servers_worker(clients: Server) -> None:
    (alice,) = await online(clients, "alice")
    code, out, err = await ctl(clients, "announce_all", "--body", "To everyone", "--json")
    assert code == 0, err
    assert json.loads(out) == {"users": 2}
    assert (await alice.next_message())["body"] == "To everyone"
    bob = await connect(clients, "bob@localhost")  # offline during the announcement: stored
    assert (await bob.next_message())["body"] == "To everyone"
    code, out, err = await ctl(clients, "export_user", "--jid", "alice@localhost", "--json")
    assert code == 0 and json.loads(out)["jid"] == "alice@localhost", err
    code, out, err = await ctl(clients, "delete_old_offline", "--days", "0", "--json")
    assert code == 0 and "deleted" in json.loads(out), err
    code, out, _ = await ctl(clients, "announce_all", "--body", "later", "--no-wait", "--json")
    assert code == 0
    task_id = json.loads(out)["task_id"]
    async def finished() -> Any:
        run = await asyncio.to_thread(api_get, clients, f"/api/tasks/{task_id}")
        return run if run["status"] == "done" else None

    run = await wait_for(finished, 10, what=f"task {task_id} done")
    assert run["result"] == {"users": 2}
    code, out, _ = await ctl(clients, "task_status", "--task-id", task_id)
    assert "status: done" in out


async def test_roster_changes_from_the_shell_are_pushed(clients: Server) -> None:
    raw = await raw_login(HOST, clients.port, "alice", resource="roster")
    raw.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    await raw.read_until(b"id=['\"]r1['\"]")
    raw.take()
    code, _, err = await ctl(clients, "roster_add", "--jid", "alice@localhost", "--contact", "carol@example.org",
                             "--name", "Carol", "--groups", "Team")
    assert code == 0, err
    data = await raw.read_until(b"</iq>")
    item = etree.fromstring(data[data.index(b"<iq"):]).find("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert item.get("jid") == "carol@example.org" and item.get("name") == "Carol"
    assert item.findtext("{jabber:iq:roster}group") == "Team"
    raw.take()
    assert "carol@example.org" in (await ctl(clients, "roster_get", "--jid", "alice@localhost"))[1]
    assert (await ctl(clients, "roster_remove", "--jid", "alice@localhost", "--contact", "carol@example.org"))[0] == 0
    data = await raw.read_until(b"</iq>")
    assert b"subscription=\"remove\"" in data or b"subscription='remove'" in data
    raw.close()


async def test_reload_from_the_shell(clients: Server) -> None:
    env_file = clients.data / "xmppd.env"
    env_file.write_text("XMPP_ALLOW_REGISTRATION=true\n")
    try:
        code, out, err = await ctl(clients, "reload", "--json")
        assert code == 0, err
        assert json.loads(out)["changed"]["allow_registration"] == {"old": False, "new": True}
    finally:
        env_file.write_text("XMPP_ALLOW_REGISTRATION=false\n")
        await ctl(clients, "reload")


async def test_read_only_token_is_refused_by_the_shell_face(clients: Server) -> None:
    code, out, err = await ctl(clients, "create_api_token", "--name", "viewer", "--read-only", "--json")
    assert code == 0, err
    token = json.loads(out)["token"]
    remote = ["--url", f"http://{HOST}:{clients.http}", "--token", token]
    code, out, _ = await ctl(clients, *remote, "count_users")
    assert code == 0 and int(out) >= 2
    code, _, err = await ctl(clients, *remote, "unregister", "--jid", "bob@localhost")
    assert code == 1 and "forbidden" in err
    code, _, err = await ctl(clients, "--url", f"http://{HOST}:{clients.http}", "--token", "xst_wrong", "stats")
    assert code == 1 and "unauthorized" in err


async def test_unregister_from_the_shell_ends_the_session(clients: Server) -> None:
    assert (await ctl(clients, "register", "--jid", "temp@localhost", "--password", "secret"))[0] == 0
    raw = await raw_login(HOST, clients.port, "temp")
    code, _, err = await ctl(clients, "unregister", "--jid", "temp@localhost")
    assert code == 0, err
    assert stream_error_condition(await raw.read_to_eof()) == "not-authorized"
    assert await login_fails(HOST, clients.port, "temp")
