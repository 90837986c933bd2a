"""Helpers for the archive's wire tests: MAM queries by hand (XML on the wire), messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.clients import Client, connect
from tests.conftest import RunningServer
from tests.plugins.wire import CLIENT, q

MAM, SID, RSM = "urn:xmpp:mam:2", "urn:xmpp:sid:0", "http://jabber.org/protocol/rsm"
FORWARD, DELAY, XDATA = "urn:xmpp:forward:0", "urn:xmpp:delay", "jabber:x:data"


def form(**fields: str | list[str]) -> str:
    """A submitted MAM form; keyword names with "_" stand for "-" (before_id -> before-id; with_ -> with)."""
    parts = [f"<x xmlns='{XDATA}' type='submit'><field var='FORM_TYPE' type='hidden'>"
             f"<value>{MAM}</value></field>"]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        name = var if var.startswith("{") else var.rstrip("_").replace("_", "-")
        parts.append(f"<field var='{name}'>" + "".join(f"<value>{v}</value>" for v in values) + "</field>")
    return "".join(parts) + "</x>"


def rsm(max_: int | None = None, after: str | None = None, before: str | None = None,
        index: int | None = None) -> str:
    inner = "" if max_ is None else f"<max>{max_}</max>"
    if after is not None:
        inner += f"<after>{after}</after>"
    if before is not None:
        inner += f"<before>{before}</before>" if before else "<before/>"
    if index is not None:
        inner += f"<index>{index}</index>"
    return f"<set xmlns='{RSM}'>{inner}</set>"


async def mam(client: Client, inner: str = "", queryid: str = "q1", to: str | None = None,
              extra: str = "") -> tuple[list[ET.Element], ET.Element]:
    """Send a MAM query; (the result <message/>s received for it, the <iq/> answer)."""
    results: list[ET.Element] = []

    def collect(msg: Any) -> None:
        if msg.xml.find(q(MAM, "result")).get("queryid") == queryid:
            results.append(msg.xml)

    name = f"mam-{queryid}"
    client.register_handler(Callback(name, MatchXPath(f"{{{CLIENT}}}message/{{{MAM}}}result"), collect))
    iq = client.make_iq_set(ito=to)
    iq.xml.append(ET.fromstring(f"<query xmlns='{MAM}' queryid='{queryid}'>{inner}{extra}</query>"))
    try:
        answer = (await iq.send(timeout=5)).xml
    except IqError as err:
        answer = err.iq.xml
    finally:
        # The results came before the answer on the stream: slixmpp has dispatched them.
        client.remove_handler(name)
    return results, answer


def bodies(results: list[ET.Element]) -> list[str]:
    return [m.find(f"{q(MAM, 'result')}/{q(FORWARD, 'forwarded')}/{q(CLIENT, 'message')}/{q(CLIENT, 'body')}").text
            for m in results]


def uids(results: list[ET.Element]) -> list[str]:
    return [m.find(q(MAM, "result")).get("id") for m in results]


def fin(answer: ET.Element) -> ET.Element:
    found = answer.find(q(MAM, "fin"))
    assert found is not None, ET.tostring(answer)
    return found


def rsm_reply(answer: ET.Element) -> dict[str, Any]:
    s = fin(answer).find(q(RSM, "set"))
    first = s.find(q(RSM, "first"))
    return {"first": first.text if first is not None else None,
            "index": first.get("index") if first is not None else None,
            "last": s.findtext(q(RSM, "last")), "count": s.findtext(q(RSM, "count"))}


async def pair(srv: RunningServer) -> tuple[Client, Client]:
    for name in ("alice", "bob"):
        await srv.add_user(name)
    return await connect(srv, "alice@localhost", resource="a"), await connect(srv, "bob@localhost", resource="b")


async def chat(sender: Client, receiver: Client, *texts: str) -> list[Any]:
    """Send each text as a chat message and wait until the receiver has it."""
    got = []
    for text in texts:
        sender.send_message(mto=receiver.boundjid.bare, mbody=text, mtype="chat")
        got.append(await receiver.next_message())
    return got


async def room_with_bob(xmpp: RunningServer, room: str, config: dict[str, str],
                        join_bob: bool = True) -> tuple[Any, Any]:
    """alice creates `room` with `config` (she is its owner: a moderator); bob, maybe in it."""
    from tests.muc.helpers import instant_room, join, user

    alice = await user(xmpp, "alice")
    bob = await user(xmpp, "bob")
    await instant_room(alice, room, "Alice", config)
    if join_bob:
        await join(bob, room, "Bob")
    return alice, bob
