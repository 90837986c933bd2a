"""The ad-hoc module: the XEP-0050 handlers on the server's bus and on every component
host's, and the XEP metadata of the forms it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from commands.adhoc.machine import AdHoc
from commands.adhoc.registry_nodes import entries
from commands.adhoc.xep0133 import admin_fragment
from xmppcore import ns

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

COMMAND_EVENT = f"{ns.COMMANDS}:command"


def _handlers(adhoc: AdHoc) -> list[tuple[str, Any]]:
    """What answers XEP-0050 at a JID: commands to the domain (host) or to an entity (bare),
    and the disco nodes of both."""
    return [
        (f"iq-set/host/{COMMAND_EVENT}", adhoc.on_command),
        (f"iq-set/bare/{COMMAND_EVENT}", adhoc.on_command),
        ("disco/items/host/node", adhoc.disco_items),
        ("disco/info/host/node", adhoc.disco_info),
        ("disco/items/bare/node", adhoc.disco_items),
        ("disco/info/bare/node", adhoc.disco_info),
    ]


def attach_component(adhoc: AdHoc, host: Any) -> None:
    """A component host answers XEP-0050 for the commands providers offer at its JIDs."""
    if getattr(host, "kind", None) != "component":
        return
    for event, handler in _handlers(adhoc):
        host.hooks.add(event, handler)
    features = getattr(host, "features", None)
    add = getattr(features, "append", None) or getattr(features, "add", None)
    if add is not None and ns.COMMANDS not in features:  # XEP-0050 §2.1
        add(ns.COMMANDS)


def _metadata(server: "Server") -> "Module":
    module = server.module("adhoc", xep="XEP-0050", title="Ad-Hoc Commands", version="1.3.0",
                           status="complete",
                           notes="every registry command; commands of any JID from providers; "
                                 "multi-stage forms; long commands via Celery")
    served = sorted(admin_fragment(e.node) or "" for e in entries() if e.spec is not None)
    server.module("admin", xep="XEP-0133", title="Service Administration", version="1.3.1",
                  status="partial", notes="the use cases the registry has commands for: " + ", ".join(served))
    server.module("xdata", xep="XEP-0004", title="Data Forms", version="2.13.2", status="complete")
    server.module("xdata-validate", xep="XEP-0122", title="Data Forms Validation", version="1.0.2",
                  status="complete", notes="enforced on ad-hoc command submissions; POSIX regex "
                                           "as Python regular expressions")
    server.module("xdata-layout", xep="XEP-0141", title="Data Forms Layout", version="1.0",
                  status="complete", notes="a page per stage of multi-stage commands")
    return module


def load(server: "Server") -> "Module":
    module = _metadata(server)
    adhoc = AdHoc(server)
    for event, handler in _handlers(adhoc):
        module.hook(event, handler)
    module.hook("commands/run-finished", adhoc.runs.run_finished)
    module.hook("session/closed", adhoc.session_closed)
    module.hook("server/stopping", adhoc.runs.stopping)
    for host in server.hosts.components():
        attach_component(adhoc, host)
    module.hook("host/added", lambda host: attach_component(adhoc, host))
    for var in (ns.COMMANDS, ns.DATA_FORMS, ns.XDATA_VALIDATE, ns.XDATA_LAYOUT):
        module.add_feature(var)
    return module
