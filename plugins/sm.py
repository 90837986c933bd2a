"""XEP-0198: Stream Management (acks and resumption, `urn:xmpp:sm:3`).

- Stream feature `<sm/>` once the client is authenticated (TCP, direct TLS, WebSocket; not
  BOSH, whose requests already carry their own acknowledgements, XEP-0124 §9).
- `<enable/>` after binding (§3) → `<enabled/>`, with `id`, `resume` and `max`
  (XMPP_SM_RESUME_TIMEOUT, or the client's shorter `max`) when resumption is asked for;
  before binding → `<failed><unexpected-request/></failed>`; a second one is a stream error.
- `<r/>` is answered with `<a h/>`; the server asks itself (`<r/>` every few stanzas or
  after a short idle time) and drops what the client acknowledges (sm_state.SMState).
- A resumable session whose transport is cut without `</stream:stream>` is kept
  (`session/transport-lost`): bound and present, stanzas to it queued, until `max` runs out.
- `<resume previd h/>` after SASL and before binding (§5) → `<resumed previd h/>`, then
  every unacknowledged stanza again, in order; a stream still holding the session gets a
  `conflict` stream error. Unknown or expired id → `<failed h?><item-not-found/></failed>`.
- When a session ends without resumption (expiry, a clean close, a stream error), every
  stanza the client did not acknowledge goes back through routing with a XEP-0203 delay
  (§4: as to an unavailable resource; RFC 6121 §8.5): another resource, the offline store,
  or an error to the sender (xmppd.delivery.salvage).
- In a cluster, resumption works on the node that holds the session; an id from another
  node is unknown here and refused with `item-not-found`. While detached, the session's
  channel-layer channel is read by this module, so stanzas from other nodes are queued too.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError
from xmppd import layer
from xmppd.delivery import salvage
from xmppd.priorities import OBSERVE
from plugins.sm_state import MOD, ExpiredIds, HandledCountTooHigh, Policy, SMState

if TYPE_CHECKING:
    from xmppd.c2s import C2SDriver
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

KEY = "sm"  # Session.data: the SMState of a session with stream management enabled
NO_SM_TRANSPORTS = frozenset({"bosh"})
STOP_WAIT = 5.0  # seconds the shutdown waits for kept sessions to hand their stanzas back
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _sm(name: str, **attrs: str) -> etree._Element:
    el = etree.Element(ns.q(ns.SM, name), nsmap={None: ns.SM})
    for key, value in attrs.items():
        el.set(key, value)
    return el


def _failed(condition: str, h: int | None = None) -> bytes:
    """§6: <failed/> with a stanza error condition (and the last 'h' when known, §5)."""
    failed = _sm("failed") if h is None else _sm("failed", h=str(h))
    etree.SubElement(failed, ns.q(ns.STANZAS, condition), nsmap={None: ns.STANZAS})
    return etree.tostring(failed)


_REQUEST = etree.tostring(_sm("r"))


class CountTooHigh(StreamError):
    """§6: undefined-condition carrying <handled-count-too-high h send-count/>."""

    def __init__(self, err: HandledCountTooHigh) -> None:
        super().__init__("undefined-condition", str(err))
        self.h, self.send_count = err.h, err.send_count

    def to_element(self) -> etree._Element:
        el = super().to_element()
        el.insert(1, _sm("handled-count-too-high", h=str(self.h), **{"send-count": str(self.send_count)}))
        return el


def _parse_h(value: str | None) -> int | None:
    try:
        h = int(value or "")
    except ValueError:
        return None
    return h if 0 <= h < MOD else None


def _stamp_delay(el: etree._Element, domain: str, moment: float) -> None:
    """A message routed again carries when delivery first failed (§4, XEP-0203 §3)."""
    if el.find(ns.q(ns.DELAY, "delay")) is None:
        delay = etree.SubElement(el, ns.q(ns.DELAY, "delay"), nsmap={None: ns.DELAY})
        delay.set("from", domain)
        utc = datetime.fromtimestamp(moment, timezone.utc)
        delay.set("stamp", utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z")


def to_reroute(server: "Server", session: "Session", leftover: list[bytes], moment: float) -> list[bytes]:
    """What of a session's unacknowledged stanzas goes back to the router, messages stamped.
    A message sent to the bare JID reached every available resource of the highest
    priority (RFC 6121 §8.5.2.1.1): when such a resource is still there it has its copy,
    and routing this one again would deliver it twice."""
    floor = max(session.priority, 0)
    copies_elsewhere = any(other is not session and other.priority >= floor
                           for other in server.sessions.available(session.bare))
    out = []
    for data in leftover:
        if not data.startswith(b"<message"):
            out.append(data)
            continue
        try:
            el = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError:
            continue
        if copies_elsewhere and "/" not in (el.get("to") or "/"):
            continue
        _stamp_delay(el, session.jid.domain, moment)
        out.append(etree.tostring(el))
    return out


class StreamManagement:
    def __init__(self, server: "Server", policy: Policy) -> None:
        self.server = server
        self.policy = policy
        self.resumable: dict[str, SMState] = {}
        self.expired = ExpiredIds()
        self.tasks: set[asyncio.Task] = set()

    # -- stream feature and nonzas ---------------------------------------------------------
    def feature(self, driver: "C2SDriver") -> etree._Element | None:
        if not driver.is_authenticated or driver.transport.kind in NO_SM_TRANSPORTS:
            return None
        return _sm("sm")

    async def nonza(self, driver: "C2SDriver", el: etree._Element) -> None:
        name = etree.QName(el).localname
        if name == "a":
            self._on_ack(driver, el)
        elif name == "r":
            self._on_request(driver)
        elif name == "enable":
            self._on_enable(driver, el)
        elif name == "resume":
            self._on_resume(driver, el)
        else:
            raise StreamError("unsupported-stanza-type", f"unknown element <{name}/>")

    def _state(self, driver: "C2SDriver") -> SMState | None:
        session = driver.session
        return session.data.get(KEY) if session is not None else None

    def _on_request(self, driver: "C2SDriver") -> None:
        state = self._state(driver)
        if state is None:
            driver.transport.write(_failed("unexpected-request"))
            return
        driver.transport.write(etree.tostring(_sm("a", h=str(state.h_in))))

    def _on_ack(self, driver: "C2SDriver", el: etree._Element) -> None:
        state = self._state(driver)
        h = _parse_h(el.get("h"))
        if state is None:
            return  # an ack of nothing: ignored
        if h is None:
            raise StreamError("invalid-xml", "<a/> needs an 'h' that is an unsignedInt")
        try:
            state.ack(h)
        except HandledCountTooHigh as err:
            raise CountTooHigh(err) from None

    # -- enabling (§3) ----------------------------------------------------------------------
    def _on_enable(self, driver: "C2SDriver", el: etree._Element) -> None:
        session = driver.session
        if session is None or driver.transport.kind in NO_SM_TRANSPORTS:
            driver.transport.write(_failed("unexpected-request"))  # §3: only after binding
            return
        if KEY in session.data:  # §3: at most one attempt; a second one ends the stream
            raise StreamError("policy-violation", "stream management is already enabled")
        resumable = el.get("resume") in ("true", "1") and self.policy.resume_timeout > 0
        wanted = _parse_h(el.get("max"))
        max_ = float(min(wanted, self.policy.resume_timeout)) if wanted else self.policy.resume_timeout
        state = SMState(session, self.policy, lambda: self._request(state), resumable=resumable, max_=max_)
        state.driver = driver
        enabled = _sm("enabled")
        if state.resume_id is not None:
            enabled.set("id", state.resume_id)
            enabled.set("resume", "true")
            enabled.set("max", str(math.ceil(max_)))
            self.resumable[state.resume_id] = state
        driver.transport.write(etree.tostring(enabled))
        session.data[KEY] = state
        self._own_output(driver)
        session.add_outbound(state.take)

    @staticmethod
    def _own_output(driver: "C2SDriver") -> None:
        """The transport must not route its unsent output again: SM answers for it."""
        if hasattr(driver.transport, "salvages"):
            driver.transport.salvages = False

    def _request(self, state: SMState) -> None:
        """<r/> on the session's transport; XMPP_SM_MAX_UNACKED reached: the session ends."""
        driver = state.driver
        if state.is_over_limit():
            if driver is None:
                self.expire(state)
            elif not driver.is_closing:
                driver.fail(StreamError("policy-violation", "too many stanzas not acknowledged"))
            return
        if driver is None or driver.is_closing:
            return
        driver.transport.write(_REQUEST)

    # -- resumption (§5) ---------------------------------------------------------------------
    def _on_resume(self, driver: "C2SDriver", el: etree._Element) -> None:
        if not driver.is_authenticated or driver.session is not None:
            driver.transport.write(_failed("unexpected-request"))  # after SASL, before binding
            return
        previd = el.get("previd") or ""
        h = _parse_h(el.get("h"))
        state = self.resumable.get(previd)
        owner = driver.machine.jid
        if h is None:
            driver.transport.write(_failed("bad-request"))
            return
        if state is None or state.session.bare != owner or state.session.is_closed:
            driver.transport.write(_failed("item-not-found", self.expired.h_for(previd, owner)))
            return
        try:
            state.ack(h)  # §5: handled as an <a/> (checked before anything else changes)
        except HandledCountTooHigh as err:
            raise CountTooHigh(err) from None
        session = state.session
        old = state.driver
        if old is not None and old is not driver:
            old.give_up("conflict")  # §5: the stream still holding the session is closed
        state.stop_timers()
        driver.take_over(session)
        self._keep_channel(state)
        state.driver = driver
        state.lost_at = None
        self._own_output(driver)
        write = driver.transport.write
        write(etree.tostring(_sm("resumed", previd=previd, h=str(state.h_in))))
        writer = session.writer
        for data in state.unacked:  # §5: everything not acknowledged, in order
            writer(data)
        state.ask()

    # -- a cut transport, the end of a session -------------------------------------------------
    def transport_lost(self, session: "Session") -> bool | None:
        """Hook session/transport-lost: keep a resumable session for `max` seconds (§5)."""
        state: SMState | None = session.data.get(KEY)
        if state is None or state.resume_id is None:
            return None
        state.lost()
        session.set_closer(lambda _condition: self.expire(state))
        state.expiry = asyncio.get_running_loop().call_later(state.max, self.expire, state)
        self._keep_channel(state)
        return True

    @staticmethod
    def _keep_channel(state: SMState) -> None:
        """Other nodes route to the session's channel-layer channel (xmppd/cluster.py); the
        transport that read it is gone: this module reads it until the session ends."""
        session = state.session
        if session.channel_name is not None and state.listener is None:
            state.listener = layer.listen(get_channel_layer(), session.channel_name, lambda: session)

    def expire(self, state: SMState) -> None:
        """No resumption in time (or the session was replaced, or kicked): it ends."""
        state.stop_timers()
        if state.resume_id is not None and self.resumable.pop(state.resume_id, None) is not None:
            self.expired.add(state.resume_id, state.session.bare, state.h_in)
        session = state.session
        if session.is_closed:
            return
        session.is_closed = True  # nothing more is queued from now on
        task = asyncio.get_running_loop().create_task(self.server.end_session(session))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def session_closed(self, session: "Session", _unavailable: Any = None) -> None:
        """Hook session/closed: what the client never acknowledged is routed again (§4)."""
        state: SMState | None = session.data.pop(KEY, None)
        if state is None:
            return
        state.stop_timers()
        if state.listener is not None:
            state.listener.cancel()
        if state.resume_id is not None and self.resumable.pop(state.resume_id, None) is not None:
            self.expired.add(state.resume_id, session.bare, state.h_in)
        session.remove_outbound(state.take)
        leftover, state.unacked, state.unacked_bytes = list(state.unacked), deque(), 0
        if leftover:
            moment = state.lost_at or datetime.now(timezone.utc).timestamp()
            await salvage(self.server, to_reroute(self.server, session, leftover, moment))

    async def stopping(self, _server: "Server") -> None:
        """Hook server/stopping: no timer outlives the server, and the sessions it ended
        (kept ones included: `Runner.stop` closes every session) have re-routed their
        unacknowledged stanzas before it goes."""
        for state in list(self.resumable.values()):
            state.stop_timers()
            if state.listener is not None:
                state.listener.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=STOP_WAIT)


def _setting(server: "Server", attr: str, name: str, default: Any) -> Any:
    """A test's Config override (`make_server(sm_resume_timeout=...)`), else the setting."""
    from django.conf import settings

    value = getattr(server.config, attr, None)
    return value if value is not None else getattr(settings, name, default)


def load(server: "Server") -> "Module":
    module = server.module(
        "sm", xep="XEP-0198", title="Stream Management", version="1.6.3", status="complete",
        notes="acks both ways, resumption (XMPP_SM_RESUME_TIMEOUT) on TCP, direct TLS and "
              "WebSocket; unacknowledged stanzas routed again when a session ends; no "
              "resumption across cluster nodes (item-not-found)")
    policy = Policy(
        resume_timeout=float(_setting(server, "sm_resume_timeout", "XMPP_SM_RESUME_TIMEOUT", 300)),
        max_unacked=int(_setting(server, "sm_max_unacked", "XMPP_SM_MAX_UNACKED", 5000)),
        max_unacked_bytes=int(_setting(server, "sm_max_unacked_bytes", "XMPP_SM_MAX_UNACKED_BYTES", 8 << 20)),
        request_every=int(_setting(server, "sm_request_every", "XMPP_SM_REQUEST_EVERY", 5)),
        request_delay=float(_setting(server, "sm_request_delay", "XMPP_SM_REQUEST_DELAY", 1.0)))
    sm = StreamManagement(server, policy)
    module.stream_feature(sm.feature)
    module.nonza(ns.SM, sm.nonza)
    module.session_state(KEY)
    module.hook("session/transport-lost", sm.transport_lost)
    module.hook("session/closed", sm.session_closed, OBSERVE)
    module.hook("server/stopping", sm.stopping)
    return module
