"""The operator commands' share of the running server (XEP-0133 §4.23-§4.25 message of the day).

Loaded through XMPP_MODULES as `commands.runtime`. It registers this process's server with
`commands.live` (so REST views and Celery worker threads reach the live sessions), writes the
local admin token `xmppctl` uses (`<XMPP_DATA_DIR>/xmppctl.json`, mode 0600, rewritten at
every start, removed at stop), samples the stanza counters for the stats command, and
delivers the message of the day.

Hooks handled:
  server/started, server/stopping (server); at start, with the in-memory broker, runs a
    previous process left queued or running are marked failed ("interrupted")
  presence/initial (session): XEP-0133 §4.23: the domain's message of the day, once per
    session, as a normal message from the domain (no database access: it is kept in memory)
  commands/motd-changed (domain, subject, body or None): refresh that memory copy
  commands/stanza-rates () -> {"stanzas_in_per_second": float, "stanzas_out_per_second": float}
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone
from lxml import etree

from commands import actions, live, revocation
from commands.live import token_path
from xmppcore.stanza import make
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

log = logging.getLogger(__name__)
SAMPLE_INTERVAL = 1.0
ROUTE_RETRY_S = 0.1  # pause after a failed read of the route channel (Redis timed out or is down)
SAMPLE_WINDOW = 60  # samples kept: the rate is the average over the last minute
MOTD_SENT = "commands.motd-sent"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def local_api_url() -> str:
    """Where this process's HTTP API listens, for a client on the same machine."""
    from django.conf import settings

    host = settings.XMPP_BIND
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.XMPP_HTTP_PORT}"


def write_token_file(path: Path, token: str, url: str) -> None:
    """Atomically, readable by the server's user only (the token is a full admin credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, fh)
    os.replace(tmp, path)


class Runtime:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.motds: dict[str, tuple[str, str]] = {}
        self.samples: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=SAMPLE_WINDOW)
        self.tasks: list[asyncio.Task[None]] = []
        self.token: str | None = None
        self.started_at = timezone.now()

    async def started(self, server: "Server") -> None:
        if server is not self.server:
            return
        live.set_running(server, asyncio.get_running_loop())
        self.token = live.LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
        live.set_local_token(self.token)
        try:
            write_token_file(token_path(server.config.data_dir), self.token, local_api_url())
        except OSError as exc:
            log.warning("could not write the xmppctl token: %s", exc)
        self.motds = await db(actions.all_motds)
        from commands import worker

        if worker.is_embedded():
            # The in-memory broker lost whatever a previous process had queued or was running.
            await db(actions.do_fail_interrupted_runs, self.started_at)
        self.sample()
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._sample_loop())]
        layer = get_channel_layer()
        if layer is not None and not isinstance(layer, InMemoryChannelLayer):
            self.tasks.append(loop.create_task(self.route_loop(layer)))

    async def stopping(self, server: "Server") -> None:
        if server is not self.server:
            return
        for task in self.tasks:
            task.cancel()
        running = live.current()
        if running is not None and running.server is server:
            live.set_running(None)
            live.set_local_token(None)
            path = token_path(server.config.data_dir)
            try:
                if json.loads(path.read_text()).get("token") == self.token:
                    path.unlink()
            except (OSError, ValueError):
                pass
        # The embedded Celery worker is a daemon thread of the process: it outlives a server
        # restart (tests) and ends with the process; runs it leaves unfinished are marked at
        # the next start.

    async def route_loop(self, layer: Any) -> None:
        """Stanzas that Celery workers in other processes hand to this server (`live.deliver`)."""
        while True:
            try:
                message = await layer.receive(live.ROUTE_CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # An idle blocking pop on Redis times out (redis TimeoutError after a few
                # seconds), and Redis may restart: read again rather than let the loop die —
                # a dead loop silently drops every stanza and revocation handed over later.
                log.debug("reading %s failed (%s): reading again", live.ROUTE_CHANNEL, exc)
                await asyncio.sleep(ROUTE_RETRY_S)
                continue
            try:
                if revocation.handle(self.server, message):
                    continue
                el = etree.fromstring(message["xml"].encode(), _PARSER)
                await live.route(self.server, el)
            except Exception:
                log.exception("could not route a stanza from a worker")

    # -- stanza rates ---------------------------------------------------------------------
    def sample(self) -> None:
        stats = self.server.stats
        self.samples.append((time.monotonic(), stats["stanzas_in"], stats["stanzas_out"]))

    async def _sample_loop(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL)
            self.sample()

    def rates(self) -> dict[str, float]:
        """Stanzas per second since the oldest sample of the window (up to a minute)."""
        stats = self.server.stats
        if not self.samples:
            return {"stanzas_in_per_second": 0.0, "stanzas_out_per_second": 0.0}
        then, sin, sout = self.samples[0]
        elapsed = max(time.monotonic() - then, 1e-3)
        return {"stanzas_in_per_second": round((stats["stanzas_in"] - sin) / elapsed, 3),
                "stanzas_out_per_second": round((stats["stanzas_out"] - sout) / elapsed, 3)}

    # -- message of the day ---------------------------------------------------------------
    def motd_changed(self, domain: str, subject: str, body: str | None) -> None:
        if body is None:
            self.motds.pop(domain, None)
        else:
            self.motds[domain] = (subject, body)

    def deliver_motd(self, session: "Session") -> None:
        motd = self.motds.get(session.jid.domain)
        if motd is None or session.data.get(MOTD_SENT):
            return None
        session.data[MOTD_SENT] = True
        session.send(motd_message(session.jid.domain, str(session.jid), *motd))
        return None


def motd_message(domain: str, to: str, subject: str, body: str) -> Any:
    """XEP-0133 §4.23: the message of the day, a normal message from the domain."""
    from xmppcore import ns

    el = make("message", from_=domain, to=to, type_="normal")
    if subject:
        etree.SubElement(el, ns.q(ns.CLIENT, "subject")).text = subject
    etree.SubElement(el, ns.q(ns.CLIENT, "body")).text = body
    return el


def load(server: "Server") -> "Module":
    module = server.module("commands-runtime", title="Operator commands: live state, message of the day",
                           notes="XEP-0133 motd delivered at login; local xmppctl token; stanza rates")
    runtime = Runtime(server)
    module.hook("server/started", runtime.started)
    module.hook("server/stopping", runtime.stopping)
    module.hook("presence/initial", runtime.deliver_motd)
    module.hook("commands/motd-changed", runtime.motd_changed)
    module.hook("commands/stanza-rates", runtime.rates)
    return module
