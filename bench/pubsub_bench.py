"""Pubsub benchmarks (issue 10): publish-to-notify for a service node with 1 000 subscribers,
and PEP fan-out from one account to 200 contacts.

    .venv/bin/python bench/pubsub_bench.py [--subscribers 1000] [--contacts 200] [--items 50]

A fresh data dir (/tmp/xmppsite-pubsub-bench), accounts and rosters written through the apps'
actions, then `manage.py xmppd` in its own process (pinned to CPU 0 when `taskset` exists) and
the raw-socket clients here (CPU 1). Every payload carries the publisher's clock; each
notification's latency is measured on arrival, and every (subscriber, item) pair is counted:
lost and duplicated notifications are reported, not guessed.

PEP contacts subscribe to the node explicitly (XEP-0060 §6.1 on the account's JID, allowed
by the presence access model): the `+notify` path needs the entity capabilities module's
`caps.features`, which a raw client cannot set; both paths end in the same fan-out loop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
DATA = Path("/tmp/xmppsite-pubsub-bench")
DOMAIN = "bench.local"
PORT = int(os.environ.get("PORT", "16322"))
ENV = {"XMPP_DATA_DIR": str(DATA), "XMPP_DOMAINS": DOMAIN, "XMPP_REQUIRE_TLS": "false",
       "XMPP_C2S_PORT": str(PORT), "XMPP_TLS_PORT": str(PORT + 1), "XMPP_HTTP_PORT": str(PORT + 2),
       "XMPP_HTTPS_PORT": "0", "XMPP_LOG_LEVEL": "WARNING", "XMPP_RATE_LIMIT_BYTES": "0",
       "XMPP_MAX_UNAUTH_PER_IP": "0", "XMPP_SCRAM_ITERATIONS": "4096"}
STAMP = re.compile(rb"<t xmlns=\"urn:bench\">(\d+):(\d+)</t>")


def prepare(subscribers: int, contacts: int) -> None:
    """Fresh database, accounts pub + sub1..subN + owner + c1..cM; cM has 'from' on owner."""
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=TOP, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ})
    sys.path.insert(0, str(TOP))
    import django

    django.setup()
    from accounts.actions import do_create_account
    from rosters.actions import do_inbound, do_outbound
    from xmppcore.jid import JID

    for name in ["pub", "owner", *(f"sub{i}" for i in range(subscribers)), *(f"c{i}" for i in range(contacts))]:
        do_create_account(name, DOMAIN, "pw")
    owner = JID("owner", DOMAIN, None)
    for i in range(contacts):
        contact = JID(f"c{i}", DOMAIN, None)
        request = f"<presence xmlns='jabber:client' type='subscribe' from='{contact}' to='{owner}'/>"
        do_outbound(contact.local, DOMAIN, owner, "subscribe")
        do_inbound(owner.local, DOMAIN, contact, "subscribe", request)
        do_outbound(owner.local, DOMAIN, contact, "subscribed")
        do_inbound(contact.local, DOMAIN, owner, "subscribed")


def start_server() -> subprocess.Popen:
    cmd = [sys.executable, "manage.py", "xmppd"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    log = open(DATA / "xmppd.log", "w")
    proc = subprocess.Popen(cmd, cwd=TOP, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            import socket
            socket.create_connection(("127.0.0.1", PORT), 0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("xmppd did not start: see " + str(DATA / "xmppd.log"))


class Raw:
    """A minimal client: PLAIN login, bind, IQs by id, notifications counted by stamp."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.buf = b""
        self.seen: dict[int, int] = {}  # item number -> times received
        self.latencies: list[float] = []
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.task: asyncio.Task | None = None

    async def until(self, pattern: bytes, timeout: float = 30.0) -> bytes:
        async def loop() -> bytes:
            while pattern not in self.buf:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"{self.user}: closed")
                self.buf += chunk
            head, _, self.buf = self.buf.partition(pattern)
            return head
        return await asyncio.wait_for(loop(), timeout)

    def send(self, xml: str) -> None:
        self.writer.write(xml.encode())

    def header(self) -> None:
        self.send(f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")

    async def login(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", PORT, limit=1 << 22)
        self.header()
        await self.until(b"</stream:features>")
        token = base64.b64encode(f"\0{self.user}\0pw".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        await self.until(b"<success")
        self.header()
        await self.until(b"</stream:features>")
        self.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource>"
                  "</bind></iq><presence/>")
        await self.until(b"</iq>")

    async def iq(self, xml: str, iq_id: str) -> None:
        self.send(xml)
        await self.until(f"id=\"{iq_id}\"".encode())

    def listen(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            chunk = await self.reader.read(1 << 20)
            if not chunk:
                return
            now = time.monotonic_ns()
            self.buf += chunk
            for match in STAMP.finditer(self.buf):
                n = int(match.group(1))
                self.seen[n] = self.seen.get(n, 0) + 1
                self.latencies.append((now - int(match.group(2))) / 1e6)
            cut = self.buf.rfind(b"</message>")
            if cut >= 0:
                self.buf = self.buf[cut + len(b"</message>"):]


async def logins(users: list[str], concurrency: int = 50) -> list[Raw]:
    clients = [Raw(u) for u in users]
    sem = asyncio.Semaphore(concurrency)

    async def one(c: Raw) -> None:
        async with sem:
            await c.login()
    await asyncio.gather(*(one(c) for c in clients))
    return clients


async def scenario(name: str, publisher: Raw, service: str, node: str, subscribers: list[Raw],
                   items: int) -> dict[str, object]:
    """`service` '' is PEP: the owner publishes to itself, contacts subscribe at its JID."""
    to = f" to='{service}'" if service else ""
    sub_to = to or f" to='{publisher.user}@{DOMAIN}'"
    for i, c in enumerate(subscribers):
        await c.iq(f"<iq type='set' id='s{i}'{sub_to}><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                   f"<subscribe node='{node}' jid='{c.user}@{DOMAIN}/r'/></pubsub></iq>", f"s{i}")
        c.buf = b""
        c.listen()
    started = time.monotonic()
    for n in range(items):
        await publisher.iq(f"<iq type='set' id='p{n}'{to}><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                           f"<publish node='{node}'><item id='i{n}'><t xmlns='urn:bench'>{n}:{time.monotonic_ns()}</t>"
                           "</item></publish></pubsub></iq>", f"p{n}")
    expected = items * len(subscribers)
    deadline = time.monotonic() + 120
    while sum(len(c.seen) for c in subscribers) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    latencies = sorted(x for c in subscribers for x in c.latencies)
    received = sum(len(c.seen) for c in subscribers)
    duplicated = sum(v - 1 for c in subscribers for v in c.seen.values())
    return {"scenario": name, "subscribers": len(subscribers), "items": items, "expected": expected,
            "received": received, "lost": expected - received, "duplicated": duplicated,
            "seconds": round(elapsed, 3), "notifications_per_s": round(received / elapsed),
            "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else None}


async def run(args: argparse.Namespace) -> list[dict[str, object]]:
    pub, owner = await logins(["pub", "owner"])
    subs = await logins([f"sub{i}" for i in range(args.subscribers)])
    contacts = await logins([f"c{i}" for i in range(args.contacts)])
    await pub.iq("<iq type='set' id='c' to='pubsub.bench.local'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                 "<create node='bench'/><configure><x xmlns='jabber:x:data' type='submit'>"
                 "<field var='pubsub#send_last_published_item'><value>never</value></field></x></configure>"
                 "</pubsub></iq>", "c")
    results = [await scenario("publish-notify", pub, "pubsub.bench.local", "bench", subs, args.items)]
    await owner.iq("<iq type='set' id='c'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                   "<create node='http://jabber.org/protocol/tune'/><configure><x xmlns='jabber:x:data' type='submit'>"
                   "<field var='pubsub#send_last_published_item'><value>never</value></field></x></configure>"
                   "</pubsub></iq>", "c")
    results.append(await scenario("pep-fanout", owner, "", "http://jabber.org/protocol/tune", contacts, args.items))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--out", default=str(TOP / "bench" / "results" / "pubsub.jsonl"))
    args = parser.parse_args()
    prepare(args.subscribers, args.contacts)
    server = start_server()
    try:
        results = asyncio.run(run(args))
    finally:
        server.terminate()
        server.wait(30)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as out:
        for result in results:
            print(json.dumps(result))
            out.write(json.dumps({**result, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")


if __name__ == "__main__":
    main()
