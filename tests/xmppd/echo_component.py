"""A test component host: the smallest service built on xmppd/hosts.py.

Loaded by tests with `server.load(["tests.xmppd.echo_component"])` on a server whose
`config.components` names the "test" service (e.g. "test.{domain}"). On each component
host it answers an echo IQ, echoes messages sent to its entities (`room@test.<domain>`)
back through the router, records presence and the events it saw (with their origins),
and can ask a client something with `Router.send_iq`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from lxml import etree

from xmppcore.stanza import Stanza, iq_result, make
from xmppd.modules import Identity

if TYPE_CHECKING:
    from xmppd.hosts import Host
    from xmppd.modules import Module
    from xmppd.server import Server

ECHO = "urn:xmppsite:test:echo"
SEEN: list[tuple[str, str, Any]] = []  # (host, event, origin kind), in the order they ran


def _record(host: "Host", event: str):
    def handler(stanza: Stanza) -> None:
        SEEN.append((host.name, event, stanza.origin.kind if stanza.origin is not None else None))
    return handler


def setup(host: "Host") -> None:
    module = host.module("echo", xep=None, title="Test component")
    module.add_feature(ECHO)

    def echo_iq(stanza: Stanza) -> etree._Element:
        return iq_result(stanza, copy.deepcopy(stanza.payload))

    async def echo_message(stanza: Stanza) -> bool:
        reply = make("message", type_=stanza.type, to=stanza.from_, from_=stanza.to)
        for child in stanza.el:
            reply.append(copy.deepcopy(child))
        await host.server.router.route(reply)
        return True

    def presence(stanza: Stanza) -> bool:
        return True

    for event in ("message/bare", "presence/full", "presence/bare"):
        module.hook(event, _record(host, event), 100)
    module.iq("get", ECHO, "echo", echo_iq, scope="host")
    module.iq("get", ECHO, "echo", echo_iq, scope="bare")
    module.hook("message/bare", echo_message)
    module.hook("presence/full", presence)
    module.hook("presence/bare", presence)


def load(server: "Server") -> "Module":
    server.hosts.add_component("test", [Identity("component", "generic", "Echo service")], setup)
    module = server.module("echo-component", xep=None, title="Test component (tests only)")
    module.hook("pre-message/bare", lambda stanza: SEEN.append(
        ("(sender side)", "pre-message/bare", stanza.origin.kind if stanza.origin is not None else None)), 100)
    return module
