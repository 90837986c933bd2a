"""The stream machine and restricted parser, bytes in / events and bytes out (no DB, no sockets)."""

from __future__ import annotations

import pytest

from xmppcore.errors import StreamError
from xmppcore.jid import JID
from xmppcore.stream import (SaslReceived, StanzaReceived, StartTLSRequested, StreamClosed,
                             StreamMachine, StreamOpened)

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


def machine(**kw) -> StreamMachine:
    return StreamMachine(is_local_domain=lambda d: d in ("localhost", "example.org"), **kw)


def opened(**kw) -> StreamMachine:
    m = machine(**kw)
    assert isinstance(m.receive(HEADER)[0], StreamOpened)
    return m


def authed(**kw) -> StreamMachine:
    m = opened(**kw)
    m.jid = JID("alice", "localhost", None)
    m.is_bound = True
    return m


def error_of(m: StreamMachine, data: bytes) -> str:
    with pytest.raises(StreamError) as info:
        m.receive(data)
    return info.value.condition


def test_header_opens_stream_and_reply_header_names_domain() -> None:
    m = machine()
    events = m.receive(HEADER)
    assert events == [StreamOpened("localhost", None, "1.0", "en")]
    out = m.open_bytes()
    assert b"from=\"localhost\"" in out and b"version=\"1.0\"" in out and b"xmlns=\"jabber:client\"" in out


def test_header_split_across_chunks() -> None:
    m = machine()
    assert m.receive(HEADER[:20]) == []
    assert isinstance(m.receive(HEADER[20:])[0], StreamOpened)


@pytest.mark.parametrize("header,condition", [
    (HEADER.replace(b"to='localhost'", b"to='nowhere.test'"), "host-unknown"),
    (HEADER.replace(b" to='localhost'", b""), "host-unknown"),
    (HEADER.replace(b"xmlns='jabber:client'", b"xmlns='jabber:server'"), "invalid-namespace"),
    (HEADER.replace(b"http://etherx.jabber.org/streams", b"urn:wrong"), "invalid-namespace"),
    (HEADER.replace(b"to='localhost' version='1.0'", b"to='localhost' version='2.0'"), "unsupported-version"),
    (HEADER.replace(b" version='1.0'>", b">"), "unsupported-version"),
    (HEADER.replace(b"<?xml version='1.0'?>", b"<?xml version='1.0' encoding='ISO-8859-1'?>"), "unsupported-encoding"),
    (b"<!DOCTYPE stream>" + HEADER, "restricted-xml"),
    (b"<<<>>>", "not-well-formed"),
])
def test_bad_headers(header: bytes, condition: str) -> None:
    assert error_of(machine(), header) == condition


@pytest.mark.parametrize("data,condition", [
    (b"<message><!-- hidden --></message>", "restricted-xml"),
    (b"<?php echo 1; ?>", "restricted-xml"),
    (b"<message><body>&xxe;</body></message>", "restricted-xml"),
    (b"<!ENTITY a 'b'>", "restricted-xml"),
    (b"<message><body>\xff\xfe</body></message>", "not-well-formed"),
    (b"<message></mess>", "not-well-formed"),
    (b"<foo xmlns='urn:unknown'/>", "unsupported-stanza-type"),
    (b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>", "undefined-condition"),
])
def test_bad_content_after_auth(data: bytes, condition: str) -> None:
    assert error_of(authed(), data) == condition


def test_stanza_before_auth_is_not_authorized() -> None:
    assert error_of(opened(), b"<message to='bob@localhost'><body>x</body></message>") == "not-authorized"


def test_stanza_before_bind_is_not_authorized_but_bind_iq_passes() -> None:
    m = opened()
    m.jid = JID("alice", "localhost", None)
    events = m.receive(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    assert isinstance(events[0], StanzaReceived)
    assert error_of(m, b"<message to='bob@localhost'/>") == "not-authorized"


def test_predefined_entities_and_char_refs_are_fine() -> None:
    m = authed()
    (ev,) = m.receive(b"<message><body>&lt;&amp;&#65;&#x42;&quot;&apos;&gt;</body></message>")
    assert ev.element[0].text == "<&AB\"'>"


def test_entity_split_across_chunks_is_still_caught() -> None:
    m = authed()
    m.receive(b"<message><body>&xx")
    assert error_of(m, b"e;</body></message>") == "restricted-xml"


def test_size_limit_is_policy_violation() -> None:
    m = authed(max_stanza_size=1000)
    m.receive(b"<message><body>" + b"a" * 500)
    assert error_of(m, b"a" * 600) == "policy-violation"


def test_whole_oversized_stanza_in_one_chunk_is_policy_violation() -> None:
    m = authed(max_stanza_size=1000)
    assert error_of(m, b"<message><body>" + b"a" * 2000 + b"</body></message>") == "policy-violation"


def test_many_small_stanzas_in_one_chunk_are_not_a_size_violation() -> None:
    m = authed(max_stanza_size=1000)
    events = m.receive(b"<message><body>hello</body></message>" * 100)
    assert len(events) == 100


def test_depth_limit_is_policy_violation() -> None:
    m = authed(max_depth=10)
    assert error_of(m, b"<message>" + b"<a>" * 20) == "policy-violation"


def test_whitespace_keepalives_and_close() -> None:
    m = authed()
    assert m.receive(b"  \n ") == []
    assert m.receive(b"</stream:stream>") == [StreamClosed()]


def test_negotiation_elements_are_classified() -> None:
    m = opened()
    (tls,) = m.receive(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert isinstance(tls, StartTLSRequested)
    (auth,) = m.receive(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
    assert isinstance(auth, SaslReceived) and auth.element.get("mechanism") == "PLAIN"


def test_restart_needs_a_new_header_for_the_same_domain() -> None:
    m = opened()
    m.restart()
    assert isinstance(m.receive(HEADER)[0], StreamOpened)
    m.restart()
    assert error_of(m, HEADER.replace(b"to='localhost'", b"to='example.org'")) == "host-unknown"


def test_restart_forgets_what_the_old_stream_left_unfinished() -> None:
    # A new parser per stream, not a reset one: libxml2 keeps the unparsed bytes of a
    # push parser across close(), and they would open the new stream (bench/README.md).
    m = opened()
    assert m.receive(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth><mess")
    m.jid = JID("alice", "localhost", None)
    m.restart()  # RFC 6120 §6.4.6: the half-sent <mess... belonged to the old stream
    events = m.receive(HEADER + b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    assert [type(e) for e in events] == [StreamOpened, StanzaReceived]
    assert events[1].element.get("id") == "b"


def test_error_before_header_sent_includes_a_header() -> None:
    m = machine()
    with pytest.raises(StreamError) as info:
        m.receive(HEADER.replace(b"to='localhost'", b"to='nowhere.test'"))
    out = m.error_bytes(info.value, "localhost")
    assert out.startswith(b"<?xml version='1.0'?><stream:stream")
    assert b"<host-unknown xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>" in out
    assert out.endswith(b"</stream:stream>")


def test_stanzas_are_detached_so_memory_stays_flat() -> None:
    m = authed()
    for _ in range(50):
        m.receive(b"<message><body>x</body></message>")
    assert len(m.parser._root) == 0


def test_bind_and_first_stanza_pipelined_in_one_chunk() -> None:
    """Events are classified lazily: the driver binds before the next element is checked."""
    m = opened()
    m.jid = JID("alice", "localhost", None)
    events = m.iter_events(b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
                           b"<presence/>")
    assert isinstance(next(events), StanzaReceived)
    m.is_bound = True  # what the driver does when it handles the bind
    assert isinstance(next(events), StanzaReceived)
