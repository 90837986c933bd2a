"""XEP-0280 with a user's resources on two real server processes joined by Redis
(`manage.py xmppd` twice, one database, one cluster prefix): <received/> and <sent/> copies
cross the process boundary in both directions, once each."""

from __future__ import annotations

import itertools
import os
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from tests.clients import Client, connect
from tests.plugins.wire import q
from tests.support.ports import HOST
from tests.support.process import Spawned, child_env, manage, start_xmppd
from tests.support.quiet import settle
from tests.support.waiting import wait_for
from tests.xmppd.test_process import SCRUBBED

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
CLIENT, CARBONS, FORWARD = "jabber:client", "urn:xmpp:carbons:2", "urn:xmpp:forward:0"
_ids = itertools.count()


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    env = child_env(tmp_path, drop=SCRUBBED, REDIS_URL=REDIS_URL, XMPP_REQUIRE_TLS="false",
                    XMPP_CLUSTER_PREFIX=f"xmppsite-carbons-{secrets.token_hex(4)}")
    manage(env, "migrate", "--noinput")
    for user in ("alice", "bob"):
        manage(env, "adduser", f"{user}@localhost", "--password", "secret")
    procs: list[Spawned] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            procs.append(start_xmppd(env, tmp_path / name))
        yield tuple(SimpleNamespace(host=HOST, port=p.ports["c2s"], clients=[]) for p in procs)
    finally:
        for node in procs:
            node.stop()


class Inbox:
    """Every <message/> a slixmpp client receives, in order."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.items: list[ET.Element] = []
        client.add_filter("in", self._record)

    def _record(self, stanza: Any) -> Any:
        if stanza.xml.tag == q(CLIENT, "message"):
            self.items.append(stanza.xml)
        return stanza

    def take(self) -> list[ET.Element]:
        items, self.items = self.items, []
        return items


async def device(node: Any, user: str, resource: str, priority: int, carbons: bool = True) -> Inbox:
    client = await connect(node, f"{user}@localhost", resource=resource, presence=False)
    client.register_plugin("xep_0280")
    if carbons:
        await client.plugin["xep_0280"].enable(timeout=5)
    client.send_presence(ppriority=priority)
    return Inbox(client)


def send(sender: Inbox, to: str, body: str) -> str:
    mid = f"x{next(_ids)}"
    sender.client.send_raw(f"<message xmlns='{CLIENT}' type='chat' to='{to}' id='{mid}'><body>{body}</body></message>")
    return mid


def originals(inbox: Inbox) -> list[str]:
    return [m.findtext(q(CLIENT, "body")) for m in inbox.items if m.find(q(CLIENT, "body")) is not None]


def carbons_of(inbox: Inbox, direction: str) -> list[str]:
    inner = f"{q(CARBONS, direction)}/{q(FORWARD, 'forwarded')}/{q(CLIENT, 'message')}"
    return [m.find(inner).get("id") for m in inbox.items if m.find(inner) is not None]


async def until_routed_to(target: Inbox, sender: Inbox, to: str) -> None:
    """Barrier: `sender` writes to `to` until `target` gets one as an original. It proves the
    sender's node applied the target's latest session state (a higher priority sent after
    enabling carbons; the cluster publishes one session's changes in order)."""
    def probe() -> bool:
        if any((b or "").startswith("probe") for b in originals(target)):
            return True
        send(sender, to, "probe")
        return False
    await wait_for(probe, timeout=10, interval=0.05, what=f"{to} routed to {target.client.boundjid}")


async def test_copies_cross_processes_both_ways(two_processes: tuple[Any, Any]) -> None:
    a, b = two_processes
    pc = await device(a, "alice", "pc", 0)
    bob = await device(a, "bob", "desk", 0, carbons=False)
    phone = await device(b, "alice", "phone", 5)
    await until_routed_to(phone, bob, "alice@localhost")  # process A knows phone's flag
    pc.client.send_presence(ppriority=10)
    await until_routed_to(pc, phone, "alice@localhost")  # process B knows pc's flag
    await settle(bob.client, pc.client, phone.client)
    for inbox in (pc, phone, bob):
        inbox.take()

    to_pc = send(bob, "alice@localhost/pc", "to the pc")  # routed by A
    from_pc = send(pc, "bob@localhost", "from the pc")  # routed by A
    from_phone = send(phone, "bob@localhost", "from the phone")  # routed by B
    to_bare = send(bob, "alice@localhost", "to alice")  # A: pc has the highest priority
    await wait_for(lambda: len(phone.items) >= 3 and len(pc.items) >= 3 and len(bob.items) >= 2)
    await settle(bob.client, phone.client, pc.client)
    assert originals(pc) == ["to the pc", "to alice"]
    assert carbons_of(pc, "sent") == [from_phone] and carbons_of(pc, "received") == []
    assert carbons_of(phone, "received") == [to_pc, to_bare]
    assert carbons_of(phone, "sent") == [from_pc] and originals(phone) == []
    assert sorted(originals(bob)) == ["from the pc", "from the phone"]
