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
import time
from typing import TYPE_CHECKING

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.sessions import Session

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

log = logging.getLogger(__name__)
MAX_CHECK_PERIOD = 30.0


def ping_element() -> etree._Element:
    return etree.Element(ns.q(ns.PING, "ping"), nsmap={None: ns.PING})


def answer(stanza: Stanza) -> etree._Element:
    """§4.2: the server supports the namespace, so it returns an empty IQ-result."""
    return iq_result(stanza)


class Pinger:
    """The idle-client checker of one server; pings go out through `Router.send_iq`."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None
        self.pending: dict[Session, asyncio.Task[None]] = {}  # one ping at a time per session

    @property
    def period(self) -> float:
        return min(MAX_CHECK_PERIOD, self.server.config.ping_interval / 2)

    # -- lifecycle (hooks server/started, server/stopping) ------------------------------
    def start(self, server: "Server") -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="xep-0199 pinger")

    async def stop(self, server: "Server") -> None:
        task, self.task = self.task, None
        for pending in [task, *self.pending.values()]:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
        self.pending.clear()

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
        for session in self.server.sessions.local():
            if session.is_closed or session.is_detached or now - session.last_activity <= interval:
                continue
            if session not in self.pending:
                self.ping(session, now)

    def ping(self, session: Session, now: float) -> asyncio.Task[None]:
        iq = make("iq", type_="get", to=session.jid, from_=JID(None, session.jid.domain, None))
        iq.append(ping_element())
        task = asyncio.get_running_loop().create_task(self._await_answer(session, iq, now))
        self.pending[session] = task
        task.add_done_callback(lambda _t: self.pending.pop(session, None))
        return task

    async def _await_answer(self, session: Session, iq: etree._Element, sent_at: float) -> None:
        try:
            await self.server.router.send_iq(iq, timeout=self.server.config.ping_timeout)
        except StanzaError as err:
            if err.condition != "remote-server-timeout":
                return  # an error answer proves the stream alive as well as a result
            if session.is_closed or session.last_activity > sent_at:
                # §6: some clients ignore pings they should answer; anything they sent since
                # the ping proves the stream works, which is all the ping was asking.
                return
            log.info("no answer to a ping from %s: closing", session.jid)
            session.closer("connection-timeout")

    # -- closed sessions (hook session/closed) ------------------------------------------
    def session_closed(self, session: Session, *_: object) -> None:
        task = self.pending.pop(session, None)
        if task is not None:
            task.cancel()


def load(server: "Server") -> "Module":
    module = server.module("ping", xep="XEP-0199", title="XMPP Ping", version="2.0.1",
                           status="complete",
                           notes="client-to-server pings; the server pings idle clients")
    module.iq("get", ns.PING, "ping", answer, scope="host")
    module.iq("get", ns.PING, "ping", answer, scope="self")
    pinger = Pinger(server)
    module.hook("server/started", pinger.start)
    module.hook("server/stopping", pinger.stop)
    module.hook("session/closed", pinger.session_closed)
    module.add_feature(ns.PING)
    return module
