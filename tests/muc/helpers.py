"""Test helpers for the MUC service: slixmpp clients that record presence, and raw stanzas."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any, Callable

from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.clients import connect

MUC = "http://jabber.org/protocol/muc"
USER = "http://jabber.org/protocol/muc#user"
ADMIN = "http://jabber.org/protocol/muc#admin"
OWNER = "http://jabber.org/protocol/muc#owner"
DATA = "jabber:x:data"
DELAY = "urn:xmpp:delay"
OCC = "urn:xmpp:occupant-id:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
CLIENT = "jabber:client"
SERVICE = "conference.localhost"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


class Inbox:
    """Stanzas received, in order; `take` removes the first one matching (others stay)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    def get_nowait(self) -> Any:
        return self.items.pop(0)

    def qsize(self) -> int:
        return len(self.items)

    async def take(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        async def loop() -> Any:
            while True:
                for index, item in enumerate(self.items):
                    if predicate(item):
                        return self.items.pop(index)
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(loop(), timeout)


async def user(srv: Any, name: str, resource: str | None = None, *, create: bool = True) -> Any:
    """A logged-in slixmpp client whose presences and messages (all of them, with or without a
    body) are kept in `.presences` and `.messages`."""
    if create:
        await srv.add_user(name)
    client = await connect(srv, f"{name}@localhost", resource=resource)
    client.presences = Inbox()
    client.messages = Inbox()
    client.add_event_handler("presence", lambda p: client.presences.put_nowait(p.xml))
    client.register_handler(Callback("all messages", MatchXPath(f"{{{CLIENT}}}message"),
                                     lambda m: client.messages.put_nowait(m.xml)))
    return client


async def take(inbox: Inbox, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """The first stanza of `inbox` matching `predicate`, waiting for it."""
    return await inbox.take(predicate, timeout)


def codes(el: Any) -> set[str]:
    return {s.get("code") for s in el.findall(f"{q(USER, 'x')}/{q(USER, 'status')}")}


def item(el: Any) -> Any:
    return el.find(f"{q(USER, 'x')}/{q(USER, 'item')}")


def error_condition(el: Any) -> str | None:
    error = el.find(q(CLIENT, "error"))
    if error is None:
        return None
    for child in error:
        if child.tag.startswith("{" + STANZAS) and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


def presence_from(jid: str, type_: str | None = None) -> Callable[[Any], bool]:
    return lambda p: p.get("from") == jid and p.get("type") == type_


def send_join(client: Any, room: str, nick: str, extra: str = "") -> None:
    client.send_raw(f"<presence to='{room}/{nick}'><x xmlns='{MUC}'>{extra}</x></presence>")


async def join(client: Any, room: str, nick: str, extra: str = "") -> Any:
    """Join and wait for the self-presence (status 110); returns it."""
    send_join(client, room, nick, extra)
    return await take(client.presences, lambda p: p.get("from") == f"{room}/{nick}" and "110" in codes(p)
                      and p.get("type") is None)


async def iq(client: Any, type_: str, to: str, payload: str) -> Any:
    """Send an IQ; the answer's element (result or error)."""
    stanza = client.make_iq(ito=to, itype=type_)
    stanza.append(ET.fromstring(payload))
    try:
        reply = await stanza.send(timeout=5)
    except IqError as err:
        return err.iq.xml
    return reply.xml


async def instant_room(client: Any, room: str, nick: str, config: dict[str, str] | None = None) -> Any:
    """Create a room and unlock it (§10.1.2 instant room, or submit `config`)."""
    presence = await join(client, room, nick)
    assert "201" in codes(presence), ET.tostring(presence)
    fields = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in (config or {}).items())
    reply = await iq(client, "set", room, f"<query xmlns='{OWNER}'><x xmlns='{DATA}' type='submit'>"
                     f"<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
                     f"{fields}</x></query>")
    assert reply.get("type") == "result", ET.tostring(reply)
    return presence


async def groupchat(client: Any, room: str, body: str) -> None:
    client.send_raw(f"<message to='{room}' type='groupchat'><body>{body}</body></message>")


async def next_groupchat(client: Any, predicate: Callable[[Any], bool] = lambda m: True) -> Any:
    return await take(client.messages, lambda m: m.get("type") == "groupchat" and predicate(m))
