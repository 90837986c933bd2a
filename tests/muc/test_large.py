"""A room of 200 occupants (raw sockets): every occupant gets every message exactly once, in
each sender's order, and every presence of those who joined after it."""

from __future__ import annotations

import asyncio
import re

from lxml import etree

from accounts.actions import do_create_account
from tests.commands.helpers import raw_login
from tests.muc.helpers import instant_room, user
from xmppd.storage import db

ROOM = "crowd@conference.localhost"
OCCUPANTS = 200
SENDERS = 5
MESSAGES = 10  # per sender
BATCH = 20  # logins at once, under the unbound-streams-per-address limit
_BODIES = re.compile(rb"<body>")


def _create(count: int) -> None:
    for i in range(count):
        do_create_account(f"u{i}", "localhost", "secret")


async def _occupant(srv, i: int):
    raw = await raw_login(srv.host, srv.port, f"u{i}", presence=False)
    raw.send(f"<presence to='{ROOM}/n{i}'><x xmlns='http://jabber.org/protocol/muc'>"
             "<history maxstanzas='0'/></x></presence>")
    await raw.read_until(rf"from=.{ROOM}/n{i}.[^>]*>.*?<status code=.110./>".encode(), timeout=20)
    return raw


async def _all_bodies(raw, expected: int) -> list[tuple[str, str]]:
    async def loop() -> None:
        while len(_BODIES.findall(raw.buffer)) < expected:
            chunk = await raw.reader.read(65536)
            assert chunk, "connection closed"
            raw.buffer += chunk
    await asyncio.wait_for(loop(), 30)
    parser = etree.XMLPullParser(events=("end",), resolve_entities=False, no_network=True)
    parser.feed(b"<stream xmlns='jabber:client'>" + raw.buffer)
    got = []
    for _event, el in parser.read_events():
        if el.tag == "{jabber:client}message" and el.get("type") == "groupchat":
            body = el.findtext("{jabber:client}body")
            if body is not None:
                got.append((el.get("from"), body))
    return got


async def test_two_hundred_occupants_each_get_every_message_once(xmpp) -> None:
    owner = await user(xmpp, "owner")
    await instant_room(owner, ROOM, "owner")
    await db(_create, OCCUPANTS)
    raws = []
    for start in range(0, OCCUPANTS, BATCH):
        raws += await asyncio.gather(*(_occupant(xmpp, i) for i in range(start, min(start + BATCH, OCCUPANTS))))
    for raw in raws:
        raw.take()
    for n in range(MESSAGES):
        for s in range(SENDERS):
            raws[s].send(f"<message to='{ROOM}' type='groupchat'><body>{s}:{n}</body></message>")
    expected = SENDERS * MESSAGES
    results = await asyncio.gather(*(_all_bodies(raw, expected) for raw in raws))
    for got in results:
        assert len(got) == expected  # nothing lost, nothing duplicated
        for s in range(SENDERS):
            mine = [body for sender, body in got if sender == f"{ROOM}/n{s}"]
            assert mine == [f"{s}:{n}" for n in range(MESSAGES)]  # each sender's order kept
    for raw in raws:
        raw.close()
