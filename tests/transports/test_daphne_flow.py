"""xmppd/transports/daphne.py without sockets: Daphne's objects are stood in for by fakes with
the same attributes (autobahn protocol, Twisted transport), so each rule is checked alone.
The wire test is test_daphne_hardening.py."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from xmppd.transports import daphne
from xmppd.transports.daphne import READ_BYTES_HIGH, DaphneFlow
from xmppd.transports.tcp import MAX_WRITE_BUFFER, READ_QUEUE_HIGH


class FakeTCP:
    """The attributes of twisted.internet.abstract.FileDescriptor that the flow reads."""

    def __init__(self) -> None:
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0
        self.producer: Any = None
        self.calls: list[str] = []
        self.socket = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        assert streaming
        self.producer = producer

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")

    def abortConnection(self) -> None:
        self.calls.append("abort")


class FakeProtocol:
    def __init__(self) -> None:
        self.transport = FakeTCP()
        self.application_queue: Any = asyncio.Queue()


async def reply(protocol: Any, message: dict) -> None:
    pass


def flow_for(protocol: FakeProtocol) -> DaphneFlow:
    flow = DaphneFlow.for_connection(functools.partial(reply, protocol))
    assert flow is not None and protocol.transport.producer is flow
    return flow


def test_another_asgi_server_gets_no_flow() -> None:
    async def send(message: dict) -> None:
        pass

    assert DaphneFlow.for_connection(send) is None
    assert DaphneFlow.for_connection(functools.partial(reply, object())) is None


async def test_input_queued_past_the_mark_pauses_reading_until_half_is_read() -> None:
    protocol = FakeProtocol()
    flow = flow_for(protocol)
    original = flow.gate.queue
    assert protocol.application_queue is flow.gate  # what autobahn fills now
    chunk = "z" * (READ_BYTES_HIGH // 8)
    for _ in range(8):
        protocol.application_queue.put_nowait({"type": "websocket.receive", "text": chunk})
    assert protocol.transport.calls == []
    protocol.application_queue.put_nowait({"type": "websocket.receive", "text": chunk})
    assert protocol.transport.calls == ["pause"] and flow.reading_paused
    for _ in range(4):
        await flow.gate.get()
    assert protocol.transport.calls == ["pause"]  # still more than half queued
    await flow.gate.get()
    assert protocol.transport.calls == ["pause", "resume"] and original.qsize() == 4


async def test_many_small_messages_pause_reading_too() -> None:
    protocol = FakeProtocol()
    flow = flow_for(protocol)
    for _ in range(READ_QUEUE_HIGH + 1):
        protocol.application_queue.put_nowait({"type": "websocket.receive", "text": "<a/>"})
    assert flow.reading_paused


def test_output_is_watched_only_while_twisted_holds_a_backlog(monkeypatch: Any) -> None:
    monkeypatch.setattr(daphne, "kernel_unacked", lambda sock: 0)
    protocol = FakeProtocol()
    flow = flow_for(protocol)
    assert not flow.is_congested
    flow.pauseProducing()  # Twisted: over its high-water mark
    stanzas = [b"<message>%d</message>" % n for n in range(4)]
    for n, data in enumerate(stanzas):
        protocol.transport._tempDataLen = sum(map(len, stanzas[:n + 1]))
        assert flow.wrote(data)
    protocol.transport.offset = len(stanzas[0])  # the first one reached the kernel, acknowledged
    protocol.transport.dataBuffer = stanzas[0] + stanzas[1]
    protocol.transport._tempDataLen = len(stanzas[2]) + len(stanzas[3])
    extra = b"<message>4</message>"
    protocol.transport._tempDataLen += len(extra)
    assert flow.wrote(extra)
    assert flow.take_unsent() == [*stanzas[1:], extra]
    flow.resumeProducing()  # everything went to the kernel
    assert not flow.is_congested and flow.take_unsent() == []


def test_past_the_cap_the_connection_is_aborted_with_its_backlog_kept(monkeypatch: Any) -> None:
    monkeypatch.setattr(daphne, "kernel_unacked", lambda sock: 0)
    protocol = FakeProtocol()
    flow = flow_for(protocol)
    flow.pauseProducing()
    big = b"<message>" + b"x" * (MAX_WRITE_BUFFER // 2) + b"</message>"
    protocol.transport._tempDataLen = len(big)
    assert flow.wrote(big)
    protocol.transport._tempDataLen += len(big)
    assert not flow.wrote(big) and protocol.transport.calls == ["abort"]
    assert flow.take_unsent() == [big, big]
