"""Helpers for pubsub wire tests: IQs by hand (XML text in, the answer's element out)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.clients import connect
from tests.conftest import RunningServer

PUBSUB = "http://jabber.org/protocol/pubsub"
OWNER = "http://jabber.org/protocol/pubsub#owner"
EVENT = "http://jabber.org/protocol/pubsub#event"
ERRORS = "http://jabber.org/protocol/pubsub#errors"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
CLIENT = "jabber:client"
XDATA = "jabber:x:data"
SERVICE = "pubsub.localhost"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


async def iq(client: Any, type_: str, to: str | None, payload: str, timeout: float = 5.0) -> ET.Element:
    """Send an IQ with `payload` and return the answer (result or error) as an element."""
    stanza = client.make_iq_set(ito=to) if type_ == "set" else client.make_iq_get(ito=to)
    stanza.xml.append(ET.fromstring(payload))
    try:
        result = await stanza.send(timeout=timeout)
    except IqError as err:
        return err.iq.xml
    return result.xml


def ok(el: ET.Element) -> ET.Element:
    assert el.get("type") == "result", ET.tostring(el)
    return el


def error(el: ET.Element) -> tuple[str, str, str | None]:
    """(type, condition, pubsub-specific condition or None) of an IQ error."""
    assert el.get("type") == "error", ET.tostring(el)
    err = el.find(q(CLIENT, "error"))
    assert err is not None
    conditions = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{STANZAS}}}")
                  and not c.tag.endswith("}text")]
    specific = [c for c in err if c.tag.startswith(f"{{{ERRORS}}}")]
    assert len(conditions) == 1
    return err.get("type"), conditions[0], (specific[0].tag.split("}")[1] if specific else None)


def form(form_type: str, **values: str | list[str]) -> str:
    """A submitted data form (XML text) with FORM_TYPE and the fields given (var '__' → '#')."""
    fields = [f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"]
    for var, value in values.items():
        vals = value if isinstance(value, list) else [value]
        fields.append(f"<field var='{var.replace('__', '#')}'>" + "".join(f"<value>{v}</value>" for v in vals)
                      + "</field>")
    return f"<x xmlns='{XDATA}' type='submit'>{''.join(fields)}</x>"


NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"


async def create(client: Any, node: str, to: str = SERVICE, **config: str) -> ET.Element:
    conf = f"<configure>{form(NODE_CONFIG, **config)}</configure>" if config else ""
    return await iq(client, "set", to, f"<pubsub xmlns='{PUBSUB}'><create node='{node}'/>{conf}</pubsub>")


async def publish(client: Any, node: str, payload: str, item_id: str | None = None, to: str | None = SERVICE,
                  options: str = "") -> ET.Element:
    ident = f" id='{item_id}'" if item_id else ""
    opts = f"<publish-options>{options}</publish-options>" if options else ""
    return await iq(client, "set", to, f"<pubsub xmlns='{PUBSUB}'><publish node='{node}'><item{ident}>"
                                       f"{payload}</item></publish>{opts}</pubsub>")


async def subscribe(client: Any, node: str, jid: str | None = None, to: str = SERVICE) -> ET.Element:
    jid = jid or str(client.boundjid)
    return await iq(client, "set", to, f"<pubsub xmlns='{PUBSUB}'><subscribe node='{node}' jid='{jid}'/></pubsub>")


def event_of(message: Any) -> ET.Element | None:
    return message.xml.find(q(EVENT, "event"))


def listen(client: Any) -> Any:
    """Record every <message/> the client gets in `client.messages` (slixmpp's own 'message'
    event only fires for messages with a body)."""
    client.messages = asyncio.Queue()
    client.register_handler(Callback("all-messages", MatchXPath(f"{{{CLIENT}}}message"),
                                     lambda m: client.messages.put_nowait(m)))
    return client


async def next_event(client: Any, timeout: float = 5.0) -> Any:
    """The next message carrying a pubsub <event/> (other messages are skipped)."""
    async def loop() -> Any:
        while True:
            message = await client.messages.get()
            if event_of(message) is not None:
                return message
    return await asyncio.wait_for(loop(), timeout)


async def users(srv: RunningServer, *names: str, presence: bool = True) -> list[Any]:
    clients = []
    for name in names:
        jid = await srv.add_user(name)
        clients.append(listen(await connect(srv, jid, presence=presence, resource="r")))
    return clients


async def accounts(srv: RunningServer, *names: str) -> None:
    for name in names:
        await srv.add_user(name)


async def subscribe_presence(srv: RunningServer, subscriber: str, owner: str) -> None:
    """`subscriber` gets a subscription to `owner`'s presence (RFC 6121 §3.1, both sides
    stored before either logs in): owner 'from', subscriber 'to'."""
    from rosters.actions import do_inbound, do_outbound
    from xmppcore.jid import JID
    from xmppd.storage import db

    sub, own = JID.parse(f"{subscriber}@{srv.domain}"), JID.parse(f"{owner}@{srv.domain}")
    await db(do_outbound, sub.local, sub.domain, own, "subscribe")
    request = f"<presence xmlns='jabber:client' type='subscribe' from='{sub}' to='{own}'/>"
    await db(do_inbound, own.local, own.domain, sub, "subscribe", request)
    await db(do_outbound, own.local, own.domain, sub, "subscribed")
    await db(do_inbound, sub.local, sub.domain, own, "subscribed")


async def login(srv: RunningServer, name: str, *notify: str, resource: str = "r", presence: bool = True) -> Any:
    """A client whose resource wants `notify` nodes (caps.features set as the caps module would,
    then `caps/updated` fired), before its initial presence."""
    client = listen(await connect(srv, f"{name}@{srv.domain}", presence=False, resource=resource))
    await set_caps(srv, f"{name}@{srv.domain}/{resource}", *notify)
    if presence:
        client.send_presence()
        await client.get_roster()  # answered after the presence was handled
    return client


async def set_caps(srv: RunningServer, full: str, *notify: str) -> None:
    from xmppcore.jid import JID

    session = srv.server.sessions.get(JID.parse(full))
    session.data["caps.features"] = frozenset(f"{n}+notify" for n in notify)
    await srv.server.hooks.fire_all("caps/updated", session)
