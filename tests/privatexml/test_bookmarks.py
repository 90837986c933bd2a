"""XEP-0048 <-> XEP-0402 conversions (privatexml/bookmarks.py), without sockets."""

from __future__ import annotations

from lxml import etree

from privatexml.bookmarks import Conference, changes, conference_of_item, to_legacy, to_native

LEGACY = "storage:bookmarks"
NATIVE = "urn:xmpp:bookmarks:1"
PUBSUB = "http://jabber.org/protocol/pubsub"

STORAGE = f"""<storage xmlns='{LEGACY}'>
  <conference name='Council of Oberon' autojoin='true' jid='council@conference.underhill.org'>
    <nick>Puck</nick><password>titania</password>
  </conference>
  <conference jid='orchard@conference.shakespeare.lit' autojoin='0'/>
  <conference name='no jid'/>
  <url name='Complete Works of Shakespeare' url='http://the-tech.mit.edu/Shakespeare/'/>
</storage>"""


def q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def test_legacy_storage_to_native_items() -> None:
    items = to_native(etree.fromstring(STORAGE))
    assert [i.get("id") for i in items] == ["council@conference.underhill.org",
                                           "orchard@conference.shakespeare.lit"]
    first = items[0]
    assert first.tag == q(PUBSUB, "item")
    conf = first.find(q(NATIVE, "conference"))
    assert conf.get("name") == "Council of Oberon" and conf.get("autojoin") == "true"
    assert conf.findtext(q(NATIVE, "nick")) == "Puck" and conf.findtext(q(NATIVE, "password")) == "titania"
    second = items[1].find(q(NATIVE, "conference"))
    assert second.get("autojoin") is None and second.get("name") is None and not len(second)


def test_native_items_to_legacy_keep_urls() -> None:
    before = etree.fromstring(STORAGE)
    item = etree.fromstring(
        f"<item xmlns='{PUBSUB}' id='coven@chat.shakespeare.lit'><conference xmlns='{NATIVE}' "
        "name='The Coven' autojoin='1'><nick>Hecate</nick><extensions><state xmlns='urn:x'/>"
        "</extensions></conference></item>")
    storage = to_legacy([item, *to_native(before)[:1]], keep=before)
    assert storage.tag == q(LEGACY, "storage")
    confs = storage.findall(q(LEGACY, "conference"))
    assert [c.get("jid") for c in confs] == ["coven@chat.shakespeare.lit", "council@conference.underhill.org"]
    assert confs[0].get("autojoin") == "true" and confs[0].findtext(q(LEGACY, "nick")) == "Hecate"
    assert confs[0].find(q(LEGACY, "extensions")) is None  # no legacy form for extensions
    assert storage.find(q(LEGACY, "url")).get("url") == "http://the-tech.mit.edu/Shakespeare/"


def test_round_trip_is_lossless_for_conferences() -> None:
    native = to_native(etree.fromstring(STORAGE))
    again = to_native(to_legacy(native))
    assert [etree.tostring(i) for i in again] == [etree.tostring(i) for i in native]
    ext = conference_of_item(etree.fromstring(
        f"<item xmlns='{PUBSUB}' id='a@b'><conference xmlns='{NATIVE}'><extensions>"
        "<x xmlns='urn:x'/></extensions></conference></item>"))
    assert ext == Conference("a@b", extensions=(b'<x xmlns="urn:x"/>',))


def test_changes_of_a_replaced_legacy_list() -> None:
    before = etree.fromstring(STORAGE)
    after = etree.fromstring(
        f"<storage xmlns='{LEGACY}'><conference name='Council of Oberon' autojoin='true' "
        "jid='council@conference.underhill.org'><nick>Puck</nick><password>titania</password>"
        "</conference><conference jid='new@conference.shakespeare.lit' name='New'/></storage>")
    publish, retract = changes(before, after)
    assert [i.get("id") for i in publish] == ["new@conference.shakespeare.lit"]  # council unchanged
    assert retract == ["orchard@conference.shakespeare.lit"]
    publish, retract = changes(None, after)
    assert len(publish) == 2 and retract == []
