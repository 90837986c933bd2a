"""XEP-0199: XMPP Ping.

Answers pings to the server (§4.2), including those with no 'to' or addressed to the
sender's own bare JID, which the server handles on the account's behalf. The server
also pings idle clients (§4.1): every `min(30, ping_interval / 2)` seconds a task sends
a ping to each session silent for longer than `config.ping_interval` and ends the
session with <connection-timeout/> (RFC 6120 §4.9.3.4) when neither a result nor an
error — both prove the stream alive — nor anything else comes back within
`config.ping_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from xmppcore import ns
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.sessions import Session

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

log = logging.getLogger(__name__)
MAX_CHECK_PERIOD = 30.0


@dataclass
class PendingPing:
    """A server-to-client ping awaiting its answer (kept in `session.pending_iqs`)."""

    sent_at: float
    timer: asyncio.TimerHandle | None = None


def ping_element() -> etree._Element:
    return etree.Element(ns.q(ns.PING, "ping"), nsmap={None: ns.PING})


def answer(stanza: Stanza) -> etree._Element:
    """§4.2: the server supports the namespace, so it returns an empty IQ-result."""
    return iq_result(stanza)


class Pinger:
    """The idle-client checker of one server."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None

    @property
    def period(self) -> float:
        return min(MAX_CHECK_PERIOD, self.server.config.ping_interval / 2)

    # -- lifecycle (hooks server/started, server/stopping) ------------------------------
    def start(self, server: "Server") -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="xep-0199 pinger")

    async def stop(self, server: "Server") -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for session in self.server.sessions.all():
            self._forget(session)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                self.check(time.monotonic())
            except Exception:  # one bad session must not stop the checks for everyone
                log.exception("ping check failed")

    # -- the check -------------------------------------------------------------------
    def check(self, now: float) -> None:
        """Ping every local session idle for longer than ping_interval with no ping pending."""
        interval = self.server.config.ping_interval
        for session in self.server.sessions.all():
            if not isinstance(session, Session):
                continue  # bound on another cluster node, which pings it itself
            if session.is_closed or now - session.last_activity <= interval:
                continue
            if any(isinstance(v, PendingPing) for v in session.pending_iqs.values()):
                continue
            self.ping(session, now)

    def ping(self, session: "Session", now: float) -> str:
        iq_id = f"ping-{secrets.token_hex(6)}"
        iq = make("iq", type_="get", id_=iq_id, to=session.jid, from_=JID(None, session.jid.domain, None))
        iq.append(ping_element())
        pending = PendingPing(now)
        session.pending_iqs[iq_id] = pending
        if not session.send(iq):
            session.pending_iqs.pop(iq_id, None)
            return iq_id
        timeout = self.server.config.ping_timeout
        pending.timer = asyncio.get_running_loop().call_later(timeout, self._expire, session, iq_id)
        return iq_id

    def _expire(self, session: "Session", iq_id: str) -> None:
        pending = session.pending_iqs.pop(iq_id, None)
        if pending is None or session.is_closed:
            return
        if session.last_activity > pending.sent_at:
            # §6: some clients ignore pings they should answer; anything they sent since
            # the ping proves the stream works, which is all the ping was asking.
            return
        log.info("no answer to ping %s from %s: closing", iq_id, session.jid)
        session.closer("connection-timeout")

    # -- answers (hook iq-response) and closed sessions (hook session/closed) --------------
    def response(self, stanza: Stanza) -> bool | None:
        """A result or an error to one of our pings: the client is alive."""
        session = stanza.origin
        pending_iqs = getattr(session, "pending_iqs", None)
        if pending_iqs is None or not isinstance(pending_iqs.get(stanza.id), PendingPing):
            return None
        pending = pending_iqs.pop(stanza.id)
        if pending.timer is not None:
            pending.timer.cancel()
        return True

    def session_closed(self, session: "Session", *_: object) -> None:
        self._forget(session)

    @staticmethod
    def _forget(session: "Session") -> None:
        for iq_id, pending in list(session.pending_iqs.items()):
            if isinstance(pending, PendingPing):
                if pending.timer is not None:
                    pending.timer.cancel()
                del session.pending_iqs[iq_id]


def load(server: "Server") -> "Module":
    module = server.module("ping", xep="XEP-0199", title="XMPP Ping", version="2.0.1",
                           status="complete",
                           notes="client-to-server pings; the server pings idle clients")
    module.iq("get", ns.PING, "ping", answer, scope="host")
    module.iq("get", ns.PING, "ping", answer, scope="self")
    pinger = Pinger(server)
    module.hook("server/started", pinger.start)
    module.hook("server/stopping", pinger.stop)
    module.hook("iq-response", pinger.response)
    module.hook("session/closed", pinger.session_closed)
    module.add_feature(ns.PING)
    return module
