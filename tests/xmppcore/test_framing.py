"""RFC 7395 framing, bytes in / bytes out: no database, no network."""

from __future__ import annotations

import pytest
from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError
from xmppcore.framing import CLOSE, WebSocketFraming
from xmppcore.jid import JID
from xmppcore.stream import StanzaReceived, StreamClosed, StreamMachine, StreamOpened

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
OPEN = f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>".encode()


def machine(framing: WebSocketFraming) -> StreamMachine:
    return StreamMachine(is_local_domain=lambda d: d == "localhost", framing=framing)


def condition(excinfo: pytest.ExceptionInfo[StreamError]) -> str:
    return excinfo.value.condition


def test_server_open_is_an_empty_framing_element_with_the_header_attributes() -> None:
    m = machine(WebSocketFraming())
    m.receive(WebSocketFraming().receive(OPEN, expecting_open=True))
    el = etree.fromstring(m.open_bytes())
    assert el.tag == f"{{{FRAMING}}}open" and len(el) == 0 and el.text is None
    assert el.nsmap == {None: FRAMING}  # §3.4: no stream prefix, no jabber:client declaration
    assert el.get("from") == "localhost" and el.get("version") == "1.0"
    assert el.get(f"{{{ns.XML}}}lang") == "en" and el.get("id") == m.stream_id and len(m.stream_id) >= 16


def test_close_and_see_other_uri_elements() -> None:
    f = WebSocketFraming()
    close = etree.fromstring(f.close_bytes())
    assert close.tag == f"{{{FRAMING}}}close" and not close.attrib and len(close) == 0
    moved = etree.fromstring(f.see_other_uri_bytes("wss://other.example/xmpp-websocket?a=1&b=2"))
    assert moved.tag == f"{{{FRAMING}}}close"
    assert moved.get("see-other-uri") == "wss://other.example/xmpp-websocket?a=1&b=2"


def test_open_becomes_a_stream_header_the_machine_accepts() -> None:
    f = WebSocketFraming()
    header = f.receive(f"<open xmlns='{FRAMING}' to='localhost' version='1.0' xml:lang='de' "
                       "from='alice@localhost'/>".encode(), expecting_open=True)
    assert header.startswith(b"<stream:stream") and header.endswith(b">") and not header.endswith(b"/>")
    [opened] = machine(f).receive(header)
    assert opened == StreamOpened("localhost", "alice@localhost", "1.0", "de")


def test_stanzas_pass_through_unchanged_and_close_is_reported() -> None:
    f = WebSocketFraming()
    m = machine(f)
    m.receive(f.receive(OPEN, expecting_open=True))
    m.jid = JID("alice", "localhost", None)
    m.is_bound = True
    stanza = b"<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi &amp; bye</body></message>"
    assert f.receive(stanza, expecting_open=False) is stanza
    [event] = m.receive(stanza)
    assert isinstance(event, StanzaReceived)
    assert event.element.findtext(f"{{{ns.CLIENT}}}body") == "hi & bye"
    assert f.receive(f"<close xmlns='{FRAMING}'/>".encode(), expecting_open=False) is CLOSE
    assert isinstance(m.receive(b"</stream:stream>")[0], StreamClosed)


def test_header_attribute_values_are_escaped_not_concatenated() -> None:
    header = WebSocketFraming().receive(
        f"<open xmlns='{FRAMING}' to='a&amp;&quot;b' version='1.0'/>".encode(), expecting_open=True)
    root = etree.fromstring(header[:-1] + b"/>")
    assert root.get("to") == 'a&"b' and root.tag == f"{{{ns.STREAM}}}stream"
    with pytest.raises(StreamError) as exc:
        machine(WebSocketFraming()).receive(header)
    assert condition(exc) == "host-unknown"


@pytest.mark.parametrize("message, expected", [
    (b"<open xmlns='jabber:client' to='localhost' version='1.0'/>", "invalid-namespace"),
    (b"<open to='localhost' version='1.0'/>", "invalid-namespace"),
    (b"<message xmlns='jabber:client'><body>early</body></message>", "invalid-namespace"),
    (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
     b"to='localhost' version='1.0'>", "not-well-formed"),
    (f"<open xmlns='{FRAMING}' to='localhost' version='1.0'><x/></open>".encode(), "bad-format"),
    (b"", "not-well-formed"),
    (b" ", "not-well-formed"),
])
def test_what_may_not_stand_for_an_open(message: bytes, expected: str) -> None:
    with pytest.raises(StreamError) as exc:
        WebSocketFraming().receive(message, expecting_open=True)
    assert condition(exc) == expected


@pytest.mark.parametrize("message, expected", [
    (b"<message xmlns='jabber:client'><body>hi</message>", "not-well-formed"),
    (b"<message xmlns='jabber:client'><body>incomplete</body>", "not-well-formed"),  # §3.3.3
    (b"<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", "not-well-formed"),
    (b"<message xmlns='jabber:client'>&unknown;</message>", "not-well-formed"),
    (OPEN, "bad-format"),
])
def test_what_may_not_stand_for_a_stanza(message: bytes, expected: str) -> None:
    with pytest.raises(StreamError) as exc:
        WebSocketFraming().receive(message, expecting_open=False)
    assert condition(exc) == expected


def test_message_size_is_limited_before_parsing() -> None:
    f = WebSocketFraming(max_message_size=120)
    body = b"<message xmlns='jabber:client'><body>" + b"x" * 60 + b"</body></message>"
    assert f.receive(body, expecting_open=False) is body
    with pytest.raises(StreamError) as exc:
        f.receive(body.replace(b"x" * 60, b"x" * 70), expecting_open=False)
    assert condition(exc) == "policy-violation"


def test_restricted_xml_still_reaches_the_stream_parser() -> None:
    f = WebSocketFraming()
    m = machine(f)
    m.receive(f.receive(OPEN, expecting_open=True))
    data = f.receive(b"<message xmlns='jabber:client'><!-- c --></message>", expecting_open=False)
    with pytest.raises(StreamError) as exc:
        m.receive(data)
    assert condition(exc) == "restricted-xml"


def test_restart_after_sasl_takes_a_new_open() -> None:
    """§3.7: after a restart the client sends a new <open/>, never a <close/> first."""
    f = WebSocketFraming()
    m = machine(f)
    assert isinstance(m.receive(f.receive(OPEN, expecting_open=not m.opened))[0], StreamOpened)
    m.restart()
    assert not m.opened
    assert isinstance(m.receive(f.receive(OPEN, expecting_open=not m.opened))[0], StreamOpened)
