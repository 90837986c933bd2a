"""Issue 8 on a real two-process cluster (two `manage.py xmppd` nodes on one database and Redis):
a password change ends the account's sessions on BOTH nodes, through the REST API of one node
and through `xmppctl`; a deleted account leaves the rosters in memory of its contacts on the
other node, with a roster push (RFC 6121 §2.5.3), whether it was deleted through the REST API
or by `manage.py deluser` from a shell (a process with no server: the channel layer)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from lxml import etree

from tests.clients import RawClient, stream_error_condition
from tests.commands.helpers import raw_login
from tests.commands.test_cli_process import SCRUBBED
from tests.support.ports import HOST
from tests.support.process import MANAGE, ROOT, Spawned, child_env, manage, migrate_with_users, start_xmppd
from tests.support.waiting import wait_for

# A Redis database of its own, so that no other xmppd on this machine takes the channel
# layer's shared route channel (commands.live.ROUTE_CHANNEL) meant for these two nodes.
REDIS_BASE = (os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
ROSTER = "jabber:iq:roster"
USERS = ("alice", "bob", "carol", "dave", "erin")


@dataclass
class Cluster:
    a: Spawned
    b: Spawned
    env: dict[str, str]
    data: Path

    def token(self) -> str:
        return json.loads((self.data / "xmppctl.json").read_text())["token"]

    async def rest(self, node: Spawned, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One REST call to `node`'s HTTP port with the local operator token."""
        def call() -> tuple[int, Any]:
            data = json.dumps(body).encode() if body is not None else None
            request = urllib.request.Request(f"http://{HOST}:{node.ports['http']}{path}", data=data,
                                             method=method, headers={
                                                 "Authorization": f"Bearer {self.token()}",
                                                 "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        return await asyncio.to_thread(call)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("cluster-accounts")
    env = child_env(data, drop=SCRUBBED, XMPP_REQUIRE_TLS="false", XMPP_HTTPS_PORT="0",
                    REDIS_URL=f"{REDIS_BASE}/{random.randint(2, 15)}",
                    XMPP_CLUSTER_PREFIX=f"xmppsite-accounts-{secrets.token_hex(4)}")
    migrate_with_users(env, *USERS)
    # carol is in bob's roster, erin in dave's.
    manage(env, "shell", "-c", "from rosters.actions import do_set_item as s; "
                               "s('bob', 'localhost', 'carol@localhost', 'Carol'); "
                               "s('dave', 'localhost', 'erin@localhost', 'Erin')")
    nodes: list[Spawned] = []
    try:
        for name in ("a", "b"):
            workdir = data / name
            workdir.mkdir()
            nodes.append(start_xmppd(env, workdir, ports=("c2s", "tls", "http")))
        yield Cluster(nodes[0], nodes[1], env, data)
    finally:
        for node in nodes:
            node.stop(timeout=10)


async def _sessions_seen(cluster: Cluster, node: Spawned, jid: str, count: int) -> None:
    """Wait until `node` knows `count` sessions of `jid` (its own and the other node's)."""
    async def seen() -> bool:
        _, body = await cluster.rest(node, "GET", f"/api/users/{jid}/sessions")
        return body["total"] == count  # a page of the user's sessions (commands.api.paginate)
    await wait_for(seen, 10, what=f"{count} sessions of {jid} known to node {node.ports}", interval=0.1)


async def _both_ended(first: RawClient, second: RawClient) -> None:
    ends = await asyncio.gather(first.read_to_eof(10), second.read_to_eof(10))
    assert [stream_error_condition(end) for end in ends] == ["not-authorized", "not-authorized"]


async def test_a_password_change_over_rest_ends_the_sessions_on_both_nodes(cluster: Cluster) -> None:
    on_a, on_b = await _both_logged_in(cluster, "secret")
    status, _ = await cluster.rest(cluster.a, "PUT", "/api/users/alice@localhost/password",
                                   {"password": "changed"})
    assert status in (200, 204)
    await _both_ended(on_a, on_b)
    # xmppctl (it reaches whichever node wrote the token file) does it again with the new password.
    on_a, on_b = await _both_logged_in(cluster, "changed")
    proc = await asyncio.create_subprocess_exec(
        *MANAGE, "xmppctl", "change_password", "--jid", "alice@localhost", "--password", "again",
        cwd=ROOT, env=cluster.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, (out, err)
    await _both_ended(on_a, on_b)
    # `manage.py passwd` from a shell runs no server: the channel layer hands the revocation to
    # one node, which ends the sessions on both — also once that node's route channel has been
    # idle longer than a Redis read timeout.
    on_a, on_b = await _both_logged_in(cluster, "again")
    await asyncio.to_thread(manage, cluster.env, "passwd", "alice@localhost", "--password", "last",
                            "--no-input")
    await _both_ended(on_a, on_b)


async def _both_logged_in(cluster: Cluster, password: str) -> tuple[RawClient, RawClient]:
    on_a = await raw_login(HOST, cluster.a.ports["c2s"], "alice", password, resource="a")
    on_b = await raw_login(HOST, cluster.b.ports["c2s"], "alice", password, resource="b")
    await _sessions_seen(cluster, cluster.a, "alice@localhost", 2)
    await _sessions_seen(cluster, cluster.b, "alice@localhost", 2)
    return on_a, on_b


async def _roster_client(port: int, user: str, contact: str) -> RawClient:
    """`user` logged in, with the roster requested (§2.1.6: interested in pushes) and `contact` in it."""
    raw = await raw_login(HOST, port, user, resource="r", presence=False)
    raw.send(f"<iq type='get' id='roster1'><query xmlns='{ROSTER}'/></iq>")
    got = await raw.read_until(rb"id=.roster1.*?</iq>")
    assert contact.encode() in got
    raw.take()
    raw.send("<presence/>")
    return raw


async def _removal_push(raw: RawClient, contact: str) -> etree._Element:
    data = await raw.read_until(rf"<iq[^>]*type=.set.[^>]*>.*?{contact}.*?</iq>", timeout=10)
    start = data.rindex(b"<iq", 0, data.index(contact.encode()))
    end = data.index(b"</iq>", start) + len(b"</iq>")
    return etree.fromstring(data[start:end])


def _rows_pointing_at(env: dict[str, str], contact: str) -> int:
    done = manage(env, "shell", "-c", "from rosters.models import RosterItem as R; "
                                      f"print(R.objects.filter(jid={contact!r}).count())")
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("face", ["rest", "deluser"])
async def test_a_deleted_account_leaves_the_rosters_on_the_other_node(cluster: Cluster, face: str) -> None:
    owner, gone = ("bob", "carol") if face == "rest" else ("dave", "erin")
    contact = f"{gone}@localhost"
    raw = await _roster_client(cluster.b.ports["c2s"], owner, contact)
    await _sessions_seen(cluster, cluster.a, f"{owner}@localhost", 1)
    if face == "rest":
        status, _ = await cluster.rest(cluster.a, "DELETE", f"/api/users/{contact}")
        assert status in (200, 204)
    else:  # a shell with no server: the channel layer carries it to a node
        await asyncio.to_thread(manage, cluster.env, "deluser", contact)
    iq = await _removal_push(raw, contact)
    # RFC 6121 §2.5.3 / §2.1.6: a push of the item with subscription='remove', from no one or the
    # user's bare JID.
    item = iq.find(f"{{{ROSTER}}}query/{{{ROSTER}}}item")
    assert iq.get("type") == "set" and iq.get("from") in (None, f"{owner}@localhost")
    assert item.get("jid") == contact and item.get("subscription") == "remove"
    assert await asyncio.to_thread(_rows_pointing_at, cluster.env, contact) == 0
    raw.send("<iq type='get' id='roster2'><query xmlns='jabber:iq:roster'/></iq>")
    again = await raw.read_until(rb"id=.roster2.*?(/>|</iq>)")
    assert contact.encode() not in again[again.index(b"roster2"):]
