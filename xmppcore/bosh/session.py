"""One BOSH session's protocol state (XEP-0124 §7-§15, XEP-0206 §4-§5), sans-I/O.

See the package docstring (`xmppcore.bosh`) for how a transport drives it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

from xmppcore.bosh.wire import (
    CONTENT_TYPE, LEGACY_STATUS, STREAM_CLOSE, VERSION, XBOSH_RESTARTLOGIC, XBOSH_VERSION,
    XML_LANG, BoshError, BoshFraming, Limits, Request, Response, body_bytes, int_attr,
    stream_header, terminal_response,
)
from xmppcore.jid import JID, InvalidJID


def _sha1_hex(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()  # noqa: S324 — XEP-0124 §15 mandates SHA-1


def _version_tuple(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    major, _, minor = value.partition(".")
    if not major.isdigit() or not (minor or "0").isdigit():
        raise BoshError("bad-request", "'ver' is <major>.<minor>")
    return int(major), int(minor or 0)


@dataclass(slots=True)
class Outcome:
    """What to do with one request.

    feed:       stream-machine input, in order (the driver's data_received)
    reply:      answer this HTTP request now with this; it will not be held
    superseded: answer the HTTP request that was waiting on the same rid with this
                (XEP-0124 §14.3: the new request takes its place)
    """

    feed: list[bytes] = field(default_factory=list)
    reply: Response | None = None
    superseded: Response | None = None


@dataclass(slots=True)
class _Held:
    """A request processed in order and not answered yet."""

    received: float
    is_pause: bool = False
    is_abandoned: bool = False  # its HTTP connection went away: it can carry nothing


@dataclass(slots=True)
class _End:
    """Why and how the session ends: the first pending request gets `condition` (None: a
    normal termination) with whatever output is left; the others get 'other-request'
    (after an error) or an empty body (after a normal close, XEP-0124 §13)."""

    condition: str | None
    reported: bool = False


class BoshSession:
    """The protocol state of one BOSH session (XEP-0124 §7-§15)."""

    def __init__(self, sid: str, request: Request, limits: Limits, now: float, *,
                 is_local_domain: Callable[[str], bool]) -> None:
        """Negotiate from the session creation request (§7.1); raises BoshError when the
        request cannot create a session (the caller answers with its condition)."""
        attrs = request.attrs
        self.sid = sid
        self.limits = limits
        self.client_version = _version_tuple(attrs.get("ver"))
        self.is_legacy = self.client_version is None
        self.domain = self._check_to(attrs.get("to"), is_local_domain)
        self.lang = attrs.get(XML_LANG)
        self.xmpp_version = attrs.get(XBOSH_VERSION) or "1.0"
        self.from_ = attrs.get("from")
        self.content_type = attrs.get("content") or CONTENT_TYPE
        wait = int_attr(attrs, "wait")
        hold = int_attr(attrs, "hold")
        self.wait = limits.max_wait if wait is None else min(wait, limits.max_wait)
        self.hold = 1 if hold is None else min(hold, limits.max_hold)
        if self.wait == 0:
            self.hold = 0  # §12: wait='0' asks for a polling session just as hold='0' does
        self.requests = self.hold + 1  # §7.1: RECOMMENDED hold + 1
        self.is_polling = self.hold == 0
        self.polling = limits.polling
        # §12: a polling session gets more inactivity than a normal one, by more than 'polling'.
        self.inactivity = limits.max_inactivity + (limits.polling + 1 if self.is_polling else 0)
        self.maxpause = limits.max_pause
        self.acks = "ack" in attrs  # §9: the client acknowledges; so do we
        self.key = attrs.get("newkey", "").lower() or None  # §15 key sequencing
        self.framing = BoshFraming()
        self.creation_rid = request.rid
        self.last_rid = request.rid  # the highest rid processed; all lower ones were too
        self.last_answered = request.rid - 1
        self.held: dict[int, _Held] = {request.rid: _Held(now)}
        self.buffered: dict[int, tuple[Request, float]] = {}  # ahead of a missing rid
        self.abandoned: set[int] = set()  # buffered ones whose HTTP connection went away
        self.outbox: list[bytes] = []
        self.outbox_size = 0  # bytes in `outbox`; counted afresh once it was taken
        self.max_outbox = limits.max_outbox
        self.cache: dict[int, tuple[Response, float]] = {}  # §14.3 retransmission
        self.idle_since: float | None = None
        self.pause: int | None = None  # §10: the inactivity allowed until the next request
        self.report: tuple[int, int] | None = None  # §9.2 (rid, milliseconds)
        self.end: _End | None = None
        self.saw_stream_error = False
        self.previous_at = now
        self.previous_empty = False
        self.previous_answer_empty = False

    @staticmethod
    def _check_to(to: str | None, is_local_domain: Callable[[str], bool]) -> str:
        if not to:
            raise BoshError("improper-addressing", "the session creation request needs 'to'")
        try:
            jid = JID.parse(to)
        except (InvalidJID, ValueError):
            raise BoshError("host-unknown", "bad 'to' address") from None
        if jid.local is not None or jid.resource is not None or not is_local_domain(jid.domain):
            raise BoshError("host-unknown", "this server does not serve that domain")
        return jid.domain

    # -- input ----------------------------------------------------------------------
    def start(self) -> list[bytes]:
        """The stream input that opens the session's XMPP stream (XEP-0206 §4)."""
        return [stream_header(self.domain, self.lang, self.xmpp_version, self.from_)]

    def receive(self, request: Request, now: float) -> Outcome:
        """One request for this session (§8, §11-§15)."""
        rid = request.rid
        if self.end is not None:
            return Outcome(reply=self._late_reply())
        if rid <= self.last_rid:
            return self._repeat(rid)
        if rid in self.buffered:  # §14.3: received, not answered: the new one takes over
            self.abandoned.discard(rid)
            return Outcome(superseded=self._recoverable())
        if rid > self.last_rid + self.requests:
            return self._fail("item-not-found")  # §14.1: beyond the window
        if self._is_overactive(request, now):
            return self._fail("policy-violation")
        self.previous_at, self.previous_empty = now, request.is_empty
        self.buffered[rid] = (request, now)
        feed: list[bytes] = []
        while self.last_rid + 1 in self.buffered and self.end is None:
            next_request, received = self.buffered.pop(self.last_rid + 1)
            self.last_rid += 1
            feed.extend(self._process(next_request, received, now))
        return Outcome(feed=feed)

    def _repeat(self, rid: int) -> Outcome:
        cached = self.cache.get(rid)
        if cached is not None:  # §14.3: the network lost our response: send it again
            return Outcome(reply=cached[0])
        held = self.held.get(rid)
        if held is not None:
            held.is_abandoned = False
            return Outcome(superseded=self._recoverable())
        return self._fail("item-not-found")  # §14.3: no longer buffered

    def _is_overactive(self, request: Request, now: float) -> bool:
        """§11 (Overactivity) and §12 (Polling Sessions)."""
        pending = len(self.held) + len(self.buffered) + 1
        if request.pause is not None or request.is_terminate:
            return pending > self.requests + 1  # §11: one extra request may pause or terminate
        if pending > self.requests:
            return True
        if not request.is_empty or not self.polling:
            return False
        if any(rid > request.rid for rid in self.buffered):
            return False  # it arrived late: the last of the sequence (in rid order) is not empty
        too_soon = now - self.previous_at < self.polling
        if self.is_polling:
            return too_soon and self.previous_empty and self.previous_answer_empty
        return too_soon and pending == self.requests

    def _process(self, request: Request, received: float, now: float) -> list[bytes]:
        """A request whose turn has come (rid order, §14.1): what it gives the stream."""
        rid = request.rid
        held = self.held[rid] = _Held(received, is_abandoned=rid in self.abandoned)
        self.abandoned.discard(rid)
        if not self._check_key(request):
            self.end = _End("item-not-found")  # §15: told to the oldest pending request
            return []
        if self.acks:
            self._on_client_ack(request, now)
        self.pause = None  # §10: back to normal with the next request
        if request.pause is not None and self.maxpause:
            held.is_pause = True
            self.pause = min(request.pause, self.maxpause)
        if request.is_restart:
            # XEP-0206 §5: a new stream; a stanza in the restart request is ignored.
            to = request.attrs.get("to") or self.domain
            lang = request.attrs.get(XML_LANG) or self.lang
            return [stream_header(to, lang, self.xmpp_version, request.attrs.get("from") or self.from_)]
        feed = list(request.payloads)
        if request.is_terminate:  # §13: forward the payloads, then close the stream
            feed.append(STREAM_CLOSE)
            self.end = _End(None)
        return feed

    def _check_key(self, request: Request) -> bool:
        """§15: each key hashes to the previous one; a new key sequence may start anywhere."""
        if self.key is None:
            return True
        key = request.attrs.get("key", "").lower()
        if not key or _sha1_hex(key) != self.key:
            return False
        self.key = request.attrs.get("newkey", "").lower() or key
        return True

    def _on_client_ack(self, request: Request, now: float) -> None:
        """§9.2: the client says which responses it has; keep the others for retransmission."""
        ack = request.ack
        if ack is None:  # it has them all
            ack = request.rid - 1
        for rid in [r for r in self.cache if r <= ack]:
            del self.cache[rid]
        if ack < self.last_answered and ack + 1 in self.cache:
            sent = self.cache[ack + 1][1]
            if now - sent >= self.limits.report_after:
                self.report = (ack + 1, int((now - sent) * 1000))

    # -- output ---------------------------------------------------------------------
    def push(self, data: bytes) -> bool:
        """One element the server sends the client; False once the session is over."""
        if not data:
            return True  # the framing's empty header/close
        if self.end is not None and (self.end.reported or self.end.condition == "policy-violation"):
            return False
        if data.startswith(b"<stream:error"):
            self.saw_stream_error = True
        self.outbox_size = (self.outbox_size if self.outbox else 0) + len(data)
        if self.outbox_size > self.max_outbox:
            # RFC 6120 §13.12: a client that leaves this much unfetched is gone or hostile;
            # end the session (XEP-0124 §17.2) rather than grow; the sender stores or bounces.
            self.outbox, self.outbox_size = [], 0
            self.end = _End("policy-violation")
            return False
        self.outbox.append(data)
        return True

    def stream_closed(self) -> None:
        """The server closed the XMPP stream: after a stream error, that is what the client
        hears (XEP-0206 §7 'remote-stream-error'); otherwise a normal termination."""
        if self.end is None:
            self.end = _End("remote-stream-error" if self.saw_stream_error else None)
        elif self.saw_stream_error and not self.end.reported:
            self.end.condition = "remote-stream-error"

    def shutdown(self, condition: str = "system-shutdown") -> None:
        """The server ends the session by itself (§17.2 e.g. 'system-shutdown')."""
        if self.end is None:
            self.end = _End(condition)

    def abandon(self, rid: int) -> None:
        """The HTTP request waiting on `rid` went away: nothing may be sent through it."""
        held = self.held.get(rid)
        if held is not None:
            held.is_abandoned = True
        elif rid in self.buffered:
            self.abandoned.add(rid)

    def due(self, now: float) -> list[tuple[int, Response]]:
        """The held requests to answer now, oldest first (§8: in rid order)."""
        out: list[tuple[int, Response]] = []
        if self.end is not None:
            self._answer_all_ending(out, now)
            return out
        if any(h.is_pause for h in self.held.values()):
            self._answer_pause(out, now)
            return out
        for rid in [r for r, h in self.held.items() if h.is_abandoned]:
            self._answer(out, rid, now, carry=False)
        while len(self.held) > self.hold:  # §8: never hold more than 'hold'
            self._answer(out, next(iter(self.held)), now)
        if self.held and (self.outbox or self.report is not None):
            self._answer(out, next(iter(self.held)), now)
        while self.held:  # §8: 'wait' is the longest a request is held
            rid, held = next(iter(self.held.items()))
            if now < held.received + self.wait:
                break
            self._answer(out, rid, now)
        return out

    def _answer_pause(self, out: list[tuple[int, Response]], now: float) -> None:
        # §10: answer everything at once; the pause request itself carries no payload.
        for rid, held in list(self.held.items()):
            self._answer(out, rid, now, carry=not held.is_pause, cache=not held.is_pause)

    def _answer_all_ending(self, out: list[tuple[int, Response]], now: float) -> None:
        end = self.end
        assert end is not None
        pending = sorted(list(self.held) + list(self.buffered))
        self.held.clear()
        self.buffered.clear()
        self.abandoned.clear()
        for rid in pending:
            if not end.reported:
                out.append((rid, self._ending_response()))
            elif end.condition:
                out.append((rid, self._response({"type": "terminate", "condition": "other-request"}, ())))
            else:
                out.append((rid, self._response({}, ())))
        if pending:
            self.idle_since = now

    def _ending_response(self) -> Response:
        """The one response that tells the client the session is over, with what is left."""
        end = self.end
        assert end is not None
        end.reported = True
        attrs = {"type": "terminate"}
        if end.condition:
            attrs["condition"] = end.condition
        payloads, self.outbox = self.outbox, []
        return self._response(attrs, payloads, end.condition)

    def _answer(self, out: list[tuple[int, Response]], rid: int, now: float, *,
                carry: bool = True, cache: bool = True) -> None:
        held = self.held.pop(rid)
        payloads: list[bytes] = []
        if carry and not held.is_abandoned:
            payloads, self.outbox = self.outbox, []
        attrs: dict[str, str] = {}
        if rid == self.creation_rid:
            attrs.update(self._creation_attrs())
        elif self.acks and self.last_rid > rid:
            attrs["ack"] = str(self.last_rid)  # §9.1: later requests arrived meanwhile
        if self.report is not None and carry and not held.is_abandoned:
            attrs["report"], attrs["time"] = str(self.report[0]), str(self.report[1])
            self.report = None
        response = self._response(attrs, payloads)
        if cache:
            self._cache(rid, response, now)
        self.last_answered = max(self.last_answered, rid)
        self.previous_answer_empty = not payloads
        if not self.held:
            self.idle_since = now
        if not held.is_abandoned:
            out.append((rid, response))

    def _cache(self, rid: int, response: Response, now: float) -> None:
        self.cache[rid] = (response, now)
        # §14.3: as many as simultaneous requests, or what the client has not acknowledged.
        keep = self.limits.max_cached if self.acks else self.requests
        while len(self.cache) > keep:
            del self.cache[next(iter(self.cache))]

    def _creation_attrs(self) -> dict[str, str]:
        """§7.1 and XEP-0206 §4: the session creation response's attributes."""
        attrs = {"sid": self.sid, "wait": str(self.wait), "requests": str(self.requests),
                 "hold": str(self.hold), "inactivity": str(self.inactivity),
                 "polling": str(self.polling)}
        if self.maxpause:
            attrs["maxpause"] = str(self.maxpause)
        if self.client_version is not None:
            attrs["ver"] = "%d.%d" % min(self.client_version, VERSION)
        attrs["from"] = self.framing.stream_attrs.get("from", self.domain)
        if "id" in self.framing.stream_attrs:
            attrs["authid"] = self.framing.stream_attrs["id"]
        if self.acks:
            attrs["ack"] = str(self.creation_rid)
        attrs[XBOSH_VERSION] = self.framing.stream_attrs.get("version", "1.0")
        attrs[XBOSH_RESTARTLOGIC] = "true"
        return attrs

    def _response(self, attrs: dict[str, str], payloads: Sequence[bytes],
                  condition: str | None = None) -> Response:
        status = LEGACY_STATUS.get(condition or "", 200) if self.is_legacy else 200
        return Response(body_bytes(attrs, payloads), status, self.content_type)

    def _recoverable(self) -> Response:
        """§17.3: a recoverable binding condition for a request superseded by its repeat."""
        return self._response({"type": "error"}, ())

    def _fail(self, condition: str) -> Outcome:
        """End the session with a terminal condition reported to the current request; the
        requests still pending get 'other-request'."""
        self.end = _End(condition, reported=True)
        return Outcome(reply=terminal_response(condition, legacy=self.is_legacy,
                                               content_type=self.content_type))

    def _late_reply(self) -> Response:
        """A request after the session ended: the end if nobody heard of it yet."""
        assert self.end is not None
        if self.end.reported:
            return terminal_response("item-not-found", legacy=self.is_legacy, content_type=self.content_type)
        return self._ending_response()

    # -- time -----------------------------------------------------------------------
    @property
    def inactivity_now(self) -> int:
        return self.pause if self.pause is not None else self.inactivity

    def deadline(self) -> float | None:
        """When `due` or `is_expired` may change without any input."""
        if self.end is not None:
            return None if self.end.reported else self._idle_deadline()
        times = [held.received + self.wait for held in self.held.values()]
        idle = self._idle_deadline()
        if idle is not None:
            times.append(idle)
        return min(times) if times else None

    def _idle_deadline(self) -> float | None:
        if self.held or self.idle_since is None:
            return None
        return self.idle_since + self.inactivity_now

    def is_expired(self, now: float) -> bool:
        """§10: no request for longer than the inactivity period: the session is over.
        Requests buffered behind a rid that never came do not keep it alive."""
        deadline = self._idle_deadline()
        return deadline is not None and now >= deadline

    @property
    def is_finished(self) -> bool:
        """Ended, and everyone who had to hear of it has."""
        return self.end is not None and self.end.reported and not self.held and not self.buffered
