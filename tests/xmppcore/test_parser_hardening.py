"""Issue 8: the stream parser's limits at every depth and its §11.1 restrictions across
reads (RFC 6120 §11.1, §13.12), bytes in, events or stream errors out."""

from __future__ import annotations

import pytest
from lxml import etree

from xmppcore.errors import StreamError
from xmppcore.parser import Element, StreamParser

HEADER = (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          b" to='localhost' version='1.0'>")
LIMIT = 1000


def feed_all(chunks: list[bytes], parser: StreamParser | None = None) -> list:
    parser = parser or StreamParser(LIMIT)
    events: list = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def condition(chunks: list[bytes]) -> str:
    with pytest.raises(StreamError) as info:
        feed_all(chunks)
    return info.value.condition


@pytest.mark.parametrize("opening,filler", [
    (b"<message a='", b"x"), (b"<message xmlns:p='", b"x"), (b"<m", b"x"),
    (b"<message ", b" "), (b"<![CDATA[", b"x"), (b"text at the stream level", b"x"),
])
def test_what_libxml2_holds_between_events_is_bounded(opening: bytes, filler: bytes) -> None:
    assert condition([HEADER, opening] + [filler * 100] * 20) == "policy-violation"


def test_the_header_has_its_own_limit() -> None:
    assert condition([b"<stream:stream a='"] + [b"x" * 1000] * 10) == "policy-violation"
    big = HEADER[:-1] + b" x='" + b"y" * 10000 + b"'>"
    assert condition([big]) == "policy-violation"  # in one read too


def test_keepalives_and_stanzas_near_the_limit_pass() -> None:
    stanza = b"<message>" + b"x" * 900 + b"</message>"
    # each read ends one stanza and begins the next: only the new one's bytes count
    chunks = [HEADER, stanza[:500]] + [stanza[500:] + stanza[:500]] * 5 + [stanza[500:]]
    assert sum(isinstance(e, Element) for e in feed_all(chunks)) == 6
    assert len(feed_all([HEADER, b"<message/>"] + [b" "] * 3000)) == 2


@pytest.mark.parametrize("chunks", [
    [b"<", b"!DOCTYPE stream>" + HEADER],
    [b"<!", b"DOCTYPE stream>" + HEADER],
    [b"<!DOCTYPE stream [<", b"!ENTITY x 'y'>]>" + HEADER],
    [HEADER, b"<message><", b"!-- c --></message>"],
])
def test_dtd_and_comments_split_over_reads_are_refused(chunks: list[bytes]) -> None:
    assert condition(chunks) == "restricted-xml"


def test_cdata_split_over_reads_is_allowed() -> None:
    chunks = [HEADER, b"<message><body><", b"![CD", b"ATA[hi]]></body></message>"]
    assert feed_all(chunks)[-1].element[0].text == "hi"


def test_an_element_holding_an_entity_node_is_refused() -> None:
    parser = StreamParser(LIMIT)
    feed_all([HEADER], parser)
    el = etree.fromstring(b"<message xmlns='jabber:client'><body/></message>")
    el[0].append(etree.Entity("x"))
    with pytest.raises(StreamError) as info:
        parser._check_entities(el)
    assert info.value.condition == "restricted-xml"


def test_every_element_after_an_ampersand_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    monkeypatch.setattr(StreamParser, "_check_entities", lambda self, el: checked.append(el[0].text))
    feed_all([HEADER, b"<message><body>a &amp; b</body></message><message><body>c</body>",
              b"</message><message><body>d</body></message>", b"<message><body>e</body></message>"])
    # "c" spans two reads after the '&'; "e" comes once the stream level was reached again
    assert checked == ["a & b", "c", "d"]
