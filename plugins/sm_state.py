"""XEP-0198: Stream Management — the per-session counters and the unacknowledged queue.

Pure logic, no socket: `SMState` counts what the client sent (`h`, §4: an integer that
wraps from 2^32-1 to 0) and keeps every stanza written to the client, serialized, until an
`<a h=.../>` acknowledges it (§4 "unacknowledged queue"). The hot path is `take`: one
append to a deque, one write, one integer increment.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from lxml import etree

    from xmppd.sessions import Session

MOD = 1 << 32  # §4: 'h' is an xs:unsignedInt and wraps to zero after 2^32 - 1


class HandledCountTooHigh(Exception):
    """§6: the peer acknowledged more stanzas than it was sent."""

    def __init__(self, h: int, send_count: int) -> None:
        super().__init__(f"you acknowledged {h} stanzas, but I only sent you {send_count} so far")
        self.h = h
        self.send_count = send_count


@dataclass(frozen=True)
class Policy:
    """How often the server asks for acks and how long it keeps a detached session."""

    resume_timeout: float = 300.0  # XMPP_SM_RESUME_TIMEOUT: 'max' of <enabled/>
    max_unacked: int = 5000  # XMPP_SM_MAX_UNACKED: a client that never acks is dropped
    max_unacked_bytes: int = 8 * 1024 * 1024  # ... or that lets this much pile up
    request_every: int = 5  # an <r/> after this many stanzas without one
    request_delay: float = 1.0  # ... or this long after the first stanza not yet asked about


class SMState:
    """One stream management session: counters both ways and the unacknowledged stanzas."""

    __slots__ = ("session", "policy", "resume_id", "max", "base_in", "acked", "unacked",
                 "since_request", "timer", "expiry", "driver", "lost_at", "request",
                 "listener", "unacked_bytes")

    def __init__(self, session: "Session", policy: Policy, request: Callable[[], None],
                 *, resumable: bool, max_: float) -> None:
        self.session = session
        self.policy = policy
        self.request = request  # writes <r/> on the current transport (or ends an overflow)
        self.resume_id = secrets.token_urlsafe(18) if resumable else None
        self.max = max_
        self.base_in = session.received  # §4: 'h' starts at zero once <enable/> is received
        self.acked = 0  # the last 'h' the client sent us: stanzas it handled, mod 2^32
        self.unacked: deque[bytes] = deque()
        self.unacked_bytes = 0
        self.since_request = 0
        self.timer: asyncio.TimerHandle | None = None  # the idle <r/>
        self.expiry: asyncio.TimerHandle | None = None  # the end of a detached session
        self.driver: Any = None  # the c2s driver whose transport carries the session now
        self.lost_at: float | None = None  # when the transport went (XEP-0203 stamps)
        self.listener: asyncio.Task | None = None  # the session's cluster channel, read by SM

    # -- counters -------------------------------------------------------------------------
    @property
    def h_in(self) -> int:
        """Stanzas received from the client since <enable/>, mod 2^32 (§4)."""
        return (self.session.received - self.base_in) % MOD

    @property
    def sent(self) -> int:
        """Stanzas sent to the client since <enabled/>, mod 2^32."""
        return (self.acked + len(self.unacked)) % MOD

    def ack(self, h: int) -> int:
        """The client handled everything up to `h` (§4): drop those; how many were dropped."""
        count = (h - self.acked) % MOD
        if count > len(self.unacked):
            raise HandledCountTooHigh(h, self.sent)
        unacked = self.unacked
        for _ in range(count):
            self.unacked_bytes -= len(unacked.popleft())
        self.acked = h
        return count

    # -- the outbound filter (xmppd.sessions.Session.add_outbound) -----------------------
    def take(self, session: "Session", data: bytes, _el: "etree._Element | None") -> None:
        """Every stanza to the client: queued until acknowledged, written when a transport
        is there. Taken either way (None): it is this session's now, resent on resumption
        or routed again when the session ends (§4), so nobody else must deliver it too."""
        self.unacked.append(data)
        self.unacked_bytes += len(data)
        writer = session.writer
        if writer is not None:
            writer(data)
            self.since_request += 1
            if self.since_request >= self.policy.request_every:
                self.ask()
            elif self.timer is None:
                self.timer = asyncio.get_running_loop().call_later(self.policy.request_delay, self.ask)
        elif self.is_over_limit():
            self.request()  # detached and overflowing: the module ends the session
        return None

    def ask(self) -> None:
        """Send <r/> now (§4): the client answers with how many it handled."""
        self.since_request = 0
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.unacked and self.session.writer is not None:
            self.request()

    def is_over_limit(self) -> bool:
        policy = self.policy
        return len(self.unacked) > policy.max_unacked or self.unacked_bytes > policy.max_unacked_bytes

    def stop_timers(self) -> None:
        for handle in (self.timer, self.expiry):
            if handle is not None:
                handle.cancel()
        self.timer = self.expiry = None

    def lost(self) -> None:
        self.lost_at = time.time()
        self.driver = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.since_request = 0


class ExpiredIds:
    """SM-IDs of sessions that ended, with their last 'h' (§5: <failed h=.../>), bounded."""

    def __init__(self, size: int = 10000) -> None:
        self.size = size
        self.entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def add(self, resume_id: str, owner: Any, h: int) -> None:
        self.entries[resume_id] = (owner, h)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def h_for(self, resume_id: str, owner: Any) -> int | None:
        entry = self.entries.get(resume_id)
        return entry[1] if entry is not None and entry[0] == owner else None
