"""RFC 6120 §5.4.3.3: bytes a client sends in the clear after <starttls/>, before the TLS
handshake, are a stream error; they are never read as if they had come through TLS
(the STARTTLS command-injection attack, CVE-2011-0411 and kin)."""

from __future__ import annotations

import pytest

from tests.clients import RawClient, header, open_stream, stream_error_condition
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
STARTTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
INJECTED = "<iq type='get' id='inj'><query xmlns='jabber:iq:register'/></iq>"




async def test_plaintext_in_the_same_packet_as_starttls_is_a_stream_error(make_server) -> None:
    srv = await make_server(allow_registration=True)
    raw = await open_stream(srv)
    assert b"<starttls" in raw.features
    raw.send(STARTTLS + INJECTED)
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "policy-violation"
    assert b"<proceed" not in data and b"inj" not in data


async def test_plaintext_queued_behind_starttls_is_a_stream_error(make_server, monkeypatch) -> None:
    from xmppd.transports.tcp import XMPPConnection

    srv = await make_server(allow_registration=True)
    real = XMPPConnection.start_tls

    async def after_the_injection(self: XMPPConnection) -> None:
        # The injected bytes are read before the driver starts the handshake.
        await wait_for(lambda: any(m["type"] == "xmpp.receive" for m in self._queue),
                       what="the injected bytes queued")
        await real(self)

    monkeypatch.setattr(XMPPConnection, "start_tls", after_the_injection)
    raw = await open_stream(srv)
    assert b"<starttls" in raw.features
    raw.send(STARTTLS)
    await raw.writer.drain()
    await raw.read_until(rb"<proceed")
    raw.send(INJECTED)
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "policy-violation"
    assert b"inj" not in data
