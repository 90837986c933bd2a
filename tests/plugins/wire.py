"""Helpers for wire tests of the plugins and the offline store: IQs by hand, raw logins."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

from slixmpp.exceptions import IqError

from tests.clients import RawClient, header
from tests.conftest import RunningServer
from tests.support.waiting import wait_for as eventually  # noqa: F401 (the one waiter, re-exported)

CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


async def iq_get(client: Any, to: str | None, payload: str, timeout: float = 5.0) -> ET.Element:
    """Send <iq type='get'> with `payload` (XML text) and return the answer's element, error or not."""
    iq = client.make_iq_get(ito=to)
    iq.xml.append(ET.fromstring(payload))
    try:
        result = await iq.send(timeout=timeout)
    except IqError as err:
        return err.iq.xml
    return result.xml


def error_condition(el: ET.Element) -> tuple[str, str] | None:
    """(error type, condition) of an error stanza, or None when it is not one."""
    if el.get("type") != "error":
        return None
    error = el.find(q(CLIENT, "error"))
    assert error is not None, ET.tostring(el)
    conditions = [c.tag.split("}")[1] for c in error if c.tag.startswith(f"{{{STANZAS}}}") and
                  not c.tag.endswith("}text")]
    assert len(conditions) == 1, ET.tostring(el)
    return error.get("type"), conditions[0]


async def raw_login(srv: RunningServer, user: str, password: str = "secret",
                    resource: str = "raw") -> RawClient:
    """A raw socket logged in with PLAIN and bound to `resource` (nothing else sent)."""
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success[^>]*(/>|</success>)")
    raw.take()
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             f"<resource>{resource}</resource></bind></iq>")
    await raw.read_until(rb"</iq>")
    raw.take()
    return raw
