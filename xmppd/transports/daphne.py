"""Flow control for a WebSocket served by Daphne (issue 8: memory per connection is bounded
on every transport; RFC 6120 §13.12).

Daphne's ASGI `send` returns at once: its Twisted transport buffers whatever we write for a
client that does not read, and its `receive` queue grows with whatever the client sends
while the consumer is busy. An ASGI application cannot see either, so `DaphneFlow` reaches
through the ASGI callables to Daphne's objects — `send` is `partial(Server.handle_reply,
protocol)` with the autobahn protocol, `receive` is the bound `get` of the connection's
`asyncio.Queue` — and, when they are there, applies TCP's rules (xmppd/transports/tcp.py):

- output: registered as the transport's streaming producer, it hears when Twisted's write
  buffer passes its high-water mark (pause) and when all of it went to the kernel (resume).
  While paused it keeps the newest stanzas that add up to what the peer has not yet
  acknowledged (Twisted's buffer plus the kernel's, SIOCOUTQ), and past MAX_WRITE_BUFFER it
  aborts the connection; what it kept is then re-routed (`xmppd.delivery.salvage`).
- input: the queue Daphne fills is wrapped, so past READ_QUEUE_HIGH messages or
  READ_BYTES_HIGH bytes waiting for the consumer, the socket is no longer read
  (`pauseProducing`); reading resumes once the consumer has caught up to half of it.

Under another ASGI server (uvicorn in the tests) `for_connection` returns None and the
consumer relies on `send` waiting, as before.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from typing import Any

from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from xmppd.transports.tcp import MAX_WRITE_BUFFER, READ_QUEUE_HIGH, kernel_unacked

log = logging.getLogger(__name__)
READ_BYTES_HIGH = 1024 * 1024  # input queued for a busy consumer before the socket is paused


def _daphne_protocol(send: Any) -> Any:
    """The autobahn protocol behind Daphne's `send`, or None under another server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(protocol, "application_queue") or not hasattr(transport, "registerProducer"):
        return None
    return protocol


def _socket_transport(transport: Any) -> Any:
    """The Twisted TCP transport under a TLS wrapper (or the transport itself)."""
    while not hasattr(transport, "dataBuffer") and getattr(transport, "transport", None) is not None:
        transport = transport.transport
    return transport


def _buffered(tcp: Any) -> int:
    """Bytes Twisted holds for the peer (abstract.FileDescriptor's two buffers)."""
    try:
        return len(tcp.dataBuffer) - tcp.offset + tcp._tempDataLen
    except AttributeError:
        return 0


class _InputGate:
    """Daphne's per-connection queue, seen from both sides: autobahn puts, the consumer gets."""

    __slots__ = ("queue", "flow", "size")

    def __init__(self, queue: asyncio.Queue, flow: "DaphneFlow") -> None:
        self.queue = queue
        self.flow = flow
        self.size = 0

    def put_nowait(self, message: dict) -> None:
        self.queue.put_nowait(message)
        self.size += _length(message)
        if self.size > READ_BYTES_HIGH or self.queue.qsize() > READ_QUEUE_HIGH:
            self.flow.pause_reading()

    async def get(self) -> dict:
        message = await self.queue.get()
        self.size = max(0, self.size - _length(message))  # some were queued before the gate
        if self.flow.reading_paused and self.size <= READ_BYTES_HIGH // 2 \
                and self.queue.qsize() <= READ_QUEUE_HIGH // 2:
            self.flow.resume_reading()
        return message


def _length(message: dict) -> int:
    return len(message.get("text") or message.get("bytes") or "")


@implementer(IPushProducer)
class DaphneFlow:
    """Output cap, salvage bookkeeping and input back-pressure for one Daphne WebSocket."""

    def __init__(self, protocol: Any) -> None:
        self.transport = protocol.transport
        self.tcp = _socket_transport(self.transport)
        self.is_congested = False  # Twisted's buffer passed its high-water mark
        self.reading_paused = False
        self.unsent: deque[bytes] = deque()
        self.unsent_size = 0
        self.gate = _InputGate(protocol.application_queue, self)
        protocol.application_queue = self.gate

    @classmethod
    def for_connection(cls, send: Any) -> "DaphneFlow | None":
        protocol = _daphne_protocol(send)
        if protocol is None:
            return None
        flow = cls(protocol)
        try:
            flow.transport.registerProducer(flow, True)
        except RuntimeError:  # another producer: no pause notices, the cap is checked per write
            flow.is_congested = True
        return flow

    # -- IPushProducer: Twisted's notices about its write buffer --------------------------
    def pauseProducing(self) -> None:
        self.is_congested = True

    def resumeProducing(self) -> None:
        self.is_congested = False  # everything written is in the kernel
        self.unsent.clear()
        self.unsent_size = 0

    def stopProducing(self) -> None:
        pass  # the connection is gone: `WebSocketTransport` hears it from Daphne

    # -- output -------------------------------------------------------------------------
    def wrote(self, data: bytes) -> bool:
        """After one write: False when the peer left more than MAX_WRITE_BUFFER unread (the
        connection is then aborted; `take_unsent` has what it never got)."""
        if not self.is_congested:
            return True
        buffered = _buffered(self.tcp)
        self._track(data, buffered + kernel_unacked(getattr(self.tcp, "socket", None)))
        if buffered <= MAX_WRITE_BUFFER:
            return True
        log.warning("dropping WebSocket %s: %d bytes unread", getattr(self.tcp, "getPeer", lambda: "")(), buffered)
        self.transport.abortConnection()
        return False

    def _track(self, data: bytes, pending: int) -> None:
        """Keep the newest stanzas that add up to the `pending` bytes the peer has not
        acknowledged (the oldest may be partly received: the client never got it whole)."""
        unsent = self.unsent
        unsent.append(data)
        self.unsent_size += len(data)
        while unsent and self.unsent_size - len(unsent[0]) >= pending:
            self.unsent_size -= len(unsent.popleft())

    def take_unsent(self) -> list[bytes]:
        unsent, self.unsent, self.unsent_size = list(self.unsent), deque(), 0
        return unsent

    # -- input --------------------------------------------------------------------------
    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pauseProducing()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resumeProducing()
