"""Helpers for the roster and presence tests: clients that record what the server sent."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Callable

from lxml import etree

from tests.clients import Client, RawClient, connect, header
from tests.conftest import RunningServer
from tests.support.quiet import nothing_more, raw_ping

ROSTER = "jabber:iq:roster"
CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


async def login(srv: RunningServer, user: str, resource: str = "r", *, roster: bool = True,
                presence: bool = True, status: str | None = None) -> Client:
    """A slixmpp client that answers no subscription request by itself and records presences
    (`client.presences`) and roster pushes (`client.pushes`)."""
    jid = f"{user}@{srv.domain}" if "@" not in user else user
    client = await connect(srv, jid, resource=resource, presence=False)
    client.auto_authorize = None
    client.auto_subscribe = False
    client.presences = Recorded(client, srv)
    client.pushes = Recorded(client, srv)
    client.add_event_handler("presence", lambda p: client.presences.put_nowait(p))
    client.add_event_handler("roster_update",
                             lambda iq: iq["type"] == "set" and client.pushes.put_nowait(iq))
    if roster:
        await asyncio.wait_for(client.get_roster(), 5)
    if presence:
        client.send_presence(pstatus=status)
        await expect(client.presences, presence_from(str(client.boundjid)))
    return client


class Recorded(asyncio.Queue):
    """A queue of what one client received, knowing that client and its server (for `nothing`)."""

    def __init__(self, client: Client, srv: RunningServer) -> None:
        super().__init__()
        self.client = client
        self.srv = srv


async def expect(queue: asyncio.Queue, predicate: Callable[[Any], bool] = lambda _: True,
                 timeout: float = 5.0) -> Any:
    """The next queued stanza that satisfies `predicate` (others are skipped)."""
    async def loop() -> Any:
        while True:
            item = await queue.get()
            if predicate(item):
                return item
    return await asyncio.wait_for(loop(), timeout)


async def nothing(queue: Recorded, predicate: Callable[[Any], bool] = lambda _: True) -> None:
    """Fail if the queue holds a stanza that satisfies `predicate` once every other client of
    the server, then the queue's own client, had a ping answered (tests.support.quiet)."""
    others = tuple(c for c in queue.srv.clients if c is not queue.client and c.is_online())
    await nothing_more(queue.client, queue, predicate, after=others)


def presence_from(jid: str, type_: str | None = None) -> Callable[[Any], bool]:
    """A presence from `jid` whose 'type' attribute is `type_` (None: available).

    slixmpp's p["type"] answers the <show/> for available presence: read the attribute."""
    return lambda p: str(p["from"]) == jid and p.xml.get("type") == type_


def push_for(jid: str) -> Callable[[Any], bool]:
    return lambda iq: jid in iq["roster"]["items"]


def item_xml(iq: Any, jid: str) -> Any:
    """The <item/> element (ElementTree) for `jid` in a roster result or push."""
    for item in iq.xml.iter(f"{{{ROSTER}}}item"):
        if item.get("jid") == jid:
            return item
    raise AssertionError(f"no item {jid} in {iq}")


async def authenticate(srv: RunningServer, user: str = "alice", password: str = "secret") -> RawClient:
    """A raw connection that has just been answered <success/> or <failure/> (PLAIN)."""
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success|<failure")
    return raw


class Raw:
    """A logged-in raw XML client: exact XML out, parsed top-level elements in."""

    def __init__(self, raw: RawClient, jid: str, features: bytes) -> None:
        self.raw = raw
        self.jid = jid
        self.features = features
        self.stanzas: list[etree._Element] = []
        self._depth = 0
        self._parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False,
                                           no_network=True)
        self._feed(b"<stream:stream xmlns='jabber:client' "
                   b"xmlns:stream='http://etherx.jabber.org/streams'>")

    @classmethod
    async def login(cls, srv: RunningServer, user: str, resource: str = "raw") -> "Raw":
        """Authenticate with PLAIN and bind."""
        return await cls.bind(srv, await authenticate(srv, user), user, resource)

    @classmethod
    async def bind(cls, srv: RunningServer, raw: RawClient, user: str, resource: str = "raw") -> "Raw":
        """After <success/>: restart the stream and bind."""
        raw.take()
        raw.send(header())
        features = await raw.read_until(rb"</stream:features>")
        raw.take()
        client = cls(raw, f"{user}@{srv.domain}/{resource}", features)
        raw.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 f"<resource>{resource}</resource></bind></iq>")
        await client.stanza(lambda el: el.get("id") == "bind")
        return client

    def _feed(self, data: bytes) -> None:
        self._parser.feed(data)
        for event, el in self._parser.read_events():
            if event == "start":
                self._depth += 1
                continue
            self._depth -= 1
            if self._depth == 1:
                self.stanzas.append(el)

    def send(self, xml: str) -> None:
        self.raw.send(xml)

    async def stanza(self, predicate: Callable[[etree._Element], bool] = lambda _: True,
                     timeout: float = 5.0) -> etree._Element:
        """The first received top-level element that satisfies `predicate` (taken off the list)."""
        async def loop() -> etree._Element:
            while True:
                for el in self.stanzas:
                    if predicate(el):
                        self.stanzas.remove(el)
                        return el
                chunk = await self.raw.reader.read(65536)
                if not chunk:
                    raise ConnectionError("the server closed the stream")
                self._feed(chunk)
        return await asyncio.wait_for(loop(), timeout)

    async def no_stanza(self, predicate: Callable[[etree._Element], bool]) -> None:
        """Fail if a stanza satisfying `predicate` came before the reply to a ping (XEP-0199)."""
        ping_id = raw_ping(self.raw)
        await self.stanza(lambda el: el.get("id") == ping_id)
        unexpected = [etree.tostring(el) for el in self.stanzas if predicate(el)]
        assert not unexpected, f"unexpected stanza(s): {unexpected!r}"

    def close(self) -> None:
        self.raw.close()


def q(name: str, namespace: str = CLIENT) -> str:
    return f"{{{namespace}}}{name}"


def error_condition(el: etree._Element) -> str | None:
    error = el.find(q("error"))
    if error is None:
        return None
    for child in error:
        if etree.QName(child).namespace == STANZAS and etree.QName(child).localname != "text":
            return etree.QName(child).localname
    return None


async def subscribe_in_db(user: str, contact: str, domain: str = "localhost") -> None:
    """Make `user` subscribed to `contact` (both local) through the actions, before login."""
    from rosters import actions
    from xmppcore.jid import JID
    from xmppd.storage import db

    u, c = JID.parse(f"{user}@{domain}"), JID.parse(f"{contact}@{domain}")
    await db(actions.do_outbound, u.local, u.domain, c, "subscribe")
    await db(actions.do_inbound, c.local, c.domain, u, "subscribe", "<presence/>")
    await db(actions.do_outbound, c.local, c.domain, u, "subscribed")
    await db(actions.do_inbound, u.local, u.domain, c, "subscribed")


def roster_store(srv: RunningServer) -> Any:
    """The running server's RosterStore (the object behind the session/bound hook)."""
    from rosters.store import RosterStore

    for handler in srv.server.hooks.handlers("session/bound"):
        if isinstance(getattr(handler, "__self__", None), RosterStore):
            return handler.__self__
    raise AssertionError("rosters.xmpp is not loaded")
