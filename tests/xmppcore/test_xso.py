"""xmppcore.xso: declared payloads built to bytes and read from bytes."""

from __future__ import annotations

import pytest
from lxml import etree

from xmppcore import ns, xso
from xmppcore.errors import StanzaError
from xmppcore.jid import JID

DEMO = "urn:example:demo"
OTHER = "urn:example:other"


class Tag(xso.Payload, namespace=OTHER, name="tag"):
    label: str = xso.text()
    weight: int | None = xso.attr(type=int, default=None)


class Entry(xso.Payload, namespace=DEMO, name="entry"):
    jid: JID = xso.attr(type=JID)
    type_: str = xso.attr(default="normal")
    lang: str | None = xso.attr(name=ns.q(ns.XML, "lang"), default=None)
    subject: str | None = xso.text_child(default=None)
    full_name: str | None = xso.text_child(name="FN", default=None)
    urgent: bool = xso.flag()
    public: bool | None = xso.attr(type=bool, default=None)
    tag: Tag | None = xso.child(Tag, default=None)


class Feed(xso.Payload, namespace=DEMO, name="feed"):
    title: str = xso.text_child()
    entries: list[Entry] = xso.children(Entry)


def read(payload: type[xso.Payload], text: str) -> xso.Payload:
    return payload.from_element(etree.fromstring(text))


def test_builds_in_field_order_with_one_namespace_declaration() -> None:
    feed = Feed(title="News", entries=[
        Entry(jid=JID.parse("a@example.org"), subject="hi", urgent=True),
        Entry(jid=JID.parse("b@example.org/x"), type_="chat", lang="fr", full_name="Bé",
              public=False, tag=Tag(label="red", weight=3)),
    ])
    assert etree.tostring(feed.to_element(), encoding="unicode") == (
        '<feed xmlns="urn:example:demo"><title>News</title>'
        '<entry jid="a@example.org" type="normal"><subject>hi</subject><urgent/></entry>'
        '<entry jid="b@example.org/x" type="chat" xml:lang="fr" public="false"><FN>Bé</FN>'
        '<tag xmlns="urn:example:other" weight="3">red</tag></entry></feed>')


def test_reads_what_it_builds() -> None:
    entry = Entry(jid=JID.parse("b@example.org/x"), type_="chat", lang="fr", subject="",
                  full_name="Bé", urgent=True, public=True, tag=Tag(label="red", weight=3))
    feed = Feed(title="News", entries=[entry, Entry(jid=JID.parse("c@example.org"))])
    again = Feed.from_element(etree.fromstring(etree.tostring(feed.to_element())))
    assert again == feed


def test_an_empty_text_child_reads_as_an_empty_string_and_is_written_empty() -> None:
    entry = read(Entry, f"<entry xmlns='{DEMO}' jid='a@b'><subject/></entry>")
    assert entry.subject == "" and entry.full_name is None
    assert etree.tostring(entry.to_element()) == (
        b'<entry xmlns="urn:example:demo" jid="a@b" type="normal"><subject/></entry>')


def test_defaults_apply_and_unknown_parts_are_ignored() -> None:
    """RFC 6120 §8.4: what a receiver does not understand it ignores."""
    entry = read(Entry, f"<entry xmlns='{DEMO}' jid='a@b' color='blue'>"
                        f"<mood/><FN xmlns='{OTHER}'>not ours</FN><tag xmlns='{DEMO}'>wrong ns</tag>"
                        f"</entry>")
    assert entry == Entry(jid=JID.parse("a@b"))


def test_children_keep_document_order_and_skip_other_elements() -> None:
    feed = read(Feed, f"<feed xmlns='{DEMO}'><entry jid='x@y'/><title>T</title><junk/>"
                      f"<entry jid='z@y'/></feed>")
    assert [str(entry.jid) for entry in feed.entries] == ["x@y", "z@y"] and feed.title == "T"


def test_find_reads_the_first_matching_child() -> None:
    parent = etree.fromstring(f"<message xmlns='jabber:client'><body>x</body>"
                              f"<tag xmlns='{OTHER}' weight='1'>a</tag><tag xmlns='{OTHER}'>b</tag></message>")
    assert Tag.find(parent) == Tag(label="a", weight=1)
    assert Feed.find(parent) is None


@pytest.mark.parametrize("text, says", [
    (f"<entry xmlns='{DEMO}'/>", "'jid'"),  # a missing required attribute
    (f"<entry xmlns='{DEMO}' jid='@b'/>", "'jid' is invalid"),  # a JID that does not parse
    (f"<entry xmlns='{DEMO}' jid='a@b' public='yes'/>", "'public' is invalid"),  # not xs:boolean
    (f"<entry xmlns='{DEMO}' jid='a@b'><tag xmlns='{OTHER}' weight='3.5'>x</tag></entry>", "'weight'"),
    (f"<entry xmlns='{DEMO}' jid='a@b'><tag xmlns='{OTHER}'/></entry>", "'label'"),  # required text
    (f"<feed xmlns='{DEMO}'/>", "'title'"),  # a missing required text child
    (f"<feed xmlns='{OTHER}'><title>x</title></feed>", "expected <feed"),  # another namespace
])
def test_unusable_payloads_are_bad_requests(text: str, says: str) -> None:
    payload = Feed if "<feed" in text else Entry
    with pytest.raises(StanzaError) as caught:
        read(payload, text)
    assert (caught.value.condition, caught.value.type) == ("bad-request", "modify")
    assert says in str(caught.value)


def test_booleans_and_integers_read_their_xml_schema_forms() -> None:
    for raw, value in (("true", True), ("1", True), ("false", False), ("0", False)):
        assert read(Entry, f"<entry xmlns='{DEMO}' jid='a@b' public='{raw}'/>").public is value
    assert read(Tag, f"<tag xmlns='{OTHER}' weight=' -7 '>t</tag>").weight == -7


def test_appended_to_a_parent_in_the_same_namespace_no_declaration_is_repeated() -> None:
    parent = etree.Element(ns.q(DEMO, "feed"), nsmap={None: DEMO})
    Entry(jid=JID.parse("a@b")).to_element(parent)
    Tag(label="t").to_element(parent)
    assert etree.tostring(parent) == (
        b'<feed xmlns="urn:example:demo"><entry jid="a@b" type="normal"/>'
        b'<tag xmlns="urn:example:other">t</tag></feed>')


def test_a_subclass_answers_for_its_own_element() -> None:
    class Note(xso.Payload, namespace=DEMO, name="note"):
        body: str = xso.text_child()

    class Memo(Note, namespace=OTHER, name="memo"):
        author: str | None = xso.attr(default=None)

    assert etree.tostring(Memo(body="b", author="me").to_element()) == (
        b'<memo xmlns="urn:example:other" author="me"><body>b</body></memo>')
    assert etree.tostring(Note(body="b").to_element()) == b'<note xmlns="urn:example:demo"><body>b</body></note>'


def test_every_field_needs_a_specifier() -> None:
    with pytest.raises(TypeError):
        class Broken(xso.Payload, namespace=DEMO, name="broken"):  # noqa: F841
            plain: str = "x"
