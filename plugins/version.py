"""XEP-0092: Software Version.

The server answers for its domains with its name and version. The optional <os/> is
left out: §5 (Security Considerations) warns that it helps attackers target a host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

import xmppd
from xmppcore import ns, xso
from xmppcore.stanza import Stanza, iq_result

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

SOFTWARE_NAME = "xmppsite"


class VersionQuery(xso.Payload, namespace=ns.VERSION, name="query"):
    """§2: <name/> and <version/> are REQUIRED in a result, <os/> is OPTIONAL."""

    name: str = xso.text_child()
    version: str = xso.text_child()
    os: str | None = xso.text_child(default=None)


def version_query() -> etree._Element:
    return VersionQuery(name=SOFTWARE_NAME, version=xmppd.__version__).to_element()


def answer(stanza: Stanza) -> etree._Element:
    return iq_result(stanza, version_query())


def load(server: "Server") -> "Module":
    module = server.module("version", xep="XEP-0092", title="Software Version", version="1.1",
                           status="complete", notes="name and version; no <os/> (§5)")
    module.iq("get", ns.VERSION, "query", answer, scope="host")
    module.add_feature(ns.VERSION)
    return module
