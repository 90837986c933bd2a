"""The archive's pure parts: what is archivable, stanza-id stripping, preferences, the
query form, and the write buffer's serialization. No sockets, no database."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from archive import prefs, query
from archive.buffer import Entry, to_rows
from archive.xmpp import Uids, is_archivable, scan, strip_stanza_ids
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID


def msg(inner: str, mtype: str = "chat") -> etree._Element:
    return etree.fromstring(f"<message xmlns='jabber:client' type='{mtype}'>{inner}</message>")


@pytest.mark.parametrize(("inner", "mtype", "archived"), [
    ("<body>hi</body>", "chat", True),
    ("<body>hi</body>", "normal", True),
    ("<body>hi</body>", "groupchat", False),
    ("<body>hi</body>", "headline", False),
    ("<body>hi</body>", "error", False),
    ("<active xmlns='http://jabber.org/protocol/chatstates'/>", "chat", False),
    ("<encrypted xmlns='eu.siacs.conversations.axolotl'/>", "chat", True),
    ("<store xmlns='urn:xmpp:hints'/><received xmlns='urn:xmpp:receipts' id='x'/>", "chat", True),
    ("<body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/>", "chat", False),
    ("<received xmlns='urn:xmpp:carbons:2'><body>x</body></received><body>x</body>", "chat", False),
])
def test_what_is_archived(inner: str, mtype: str, archived: bool) -> None:
    assert is_archivable(msg(inner, mtype), mtype) is archived


def test_only_our_stanza_ids_are_stripped() -> None:
    el = msg("<stanza-id xmlns='urn:xmpp:sid:0' by='bob@localhost' id='1'/>"
             "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.example' id='2'/>"
             "<origin-id xmlns='urn:xmpp:sid:0' id='3'/>")
    archivable, sids = scan(el, "chat")
    assert not archivable and len(sids) == 2
    strip_stanza_ids(el, sids, "bob@localhost".__eq__)
    left = [(c.get("by"), c.get("id")) for c in el]
    assert left == [("room@muc.example", "2"), (None, "3")]


def test_prefs_decide_never_over_always_over_default() -> None:
    p = prefs.Prefs("roster", frozenset({"a@x", "both@x"}), frozenset({"n@x", "both@x"}))
    assert p.decide("both@x", True) is False
    assert p.decide("a@x", None) is True
    assert p.decide("c@x", True) is True and p.decide("c@x", False) is False
    assert p.decide("c@x", None) is None  # the roster decides and is not known
    assert prefs.Prefs("never").decide("c@x", True) is False


def test_prefs_round_trip_and_errors() -> None:
    el = etree.fromstring(f"<prefs xmlns='{ns.MAM}' default='never'><always><jid>A@X/r</jid>"
                          "</always><never/></prefs>")
    parsed = prefs.parse(el)
    assert parsed == prefs.Prefs("never", frozenset({"a@x"}), frozenset())
    assert prefs.parse(parsed.to_element()) == parsed
    for bad, condition in (("<prefs xmlns='urn:xmpp:mam:2'/>", "bad-request"),
                           ("<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>@@</jid>"
                            "</never></prefs>", "jid-malformed")):
        with pytest.raises(StanzaError) as err:
            prefs.parse(etree.fromstring(bad))
        assert err.value.condition == condition


def _query(fields: str) -> etree._Element:
    return etree.fromstring(
        f"<query xmlns='{ns.MAM}'><x xmlns='jabber:x:data' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{ns.MAM}</value></field>{fields}</x></query>")


def test_the_form_is_read_into_a_filter() -> None:
    flt = query.parse_filter(_query(
        "<field var='with'><value>Juliet@Capulet.lit</value></field>"
        "<field var='start'><value>2010-06-07T00:00:00Z</value></field>"
        "<field var='end'><value>2010-07-07T13:23:54.5+02:00</value></field>"
        "<field var='ids'><value>a</value><value>b</value><value>a</value></field>"
        "<field var='{urn:xmpp:fulltext:0}fulltext'><value> thou </value></field>"))
    assert flt.with_jid == JID.parse("juliet@capulet.lit")
    assert flt.start.isoformat() == "2010-06-07T00:00:00+00:00"
    assert flt.end.utcoffset().total_seconds() == 7200
    assert flt.ids == ("a", "b") and flt.fulltext == "thou"
    assert query.parse_filter(etree.fromstring(f"<query xmlns='{ns.MAM}'/>")) == query.Filter()


@pytest.mark.parametrize(("fields", "condition"), [
    ("<field var='start'><value>June</value></field>", "bad-request"),
    ("<field var='with'><value>a@b@c</value></field>", "bad-request"),
    ("<field var='with'><value>a@b</value><value>c@d</value></field>", "bad-request"),
    ("<field var='{urn:example}mood'><value>x</value></field>", "feature-not-implemented"),
])
def test_bad_forms(fields: str, condition: str) -> None:
    with pytest.raises(StanzaError) as err:
        query.parse_filter(_query(fields))
    assert err.value.condition == condition


def test_the_advertised_form_requires_nothing() -> None:
    x = query.form_element()
    assert x.get("type") == "form"
    assert x.find(f"{{{ns.DATA_FORMS}}}field/{{{ns.DATA_FORMS}}}required") is None
    ids = x.find(f"{{{ns.DATA_FORMS}}}field[@var='ids']")
    assert ids.find(f"{{{ns.XDATA_VALIDATE}}}validate/{{{ns.XDATA_VALIDATE}}}open") is not None


def test_an_element_archived_twice_is_serialized_once() -> None:
    el = msg("<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>")
    now = time.time()
    rows = to_rows([Entry(JID.parse("a@x"), JID.parse("b@x/r"), "out", "s1", now, el, False),
                    Entry(JID.parse("b@x"), JID.parse("a@x/q"), "in", "s1", now, el, True)])
    assert rows[0].stanza is rows[1].stanza
    assert (rows[0].owner, rows[0].with_jid, rows[0].with_resource) == ("a@x", "b@x", "r")
    assert (rows[1].body, rows[1].origin_id, rows[1].roster_check) == ("hi", "o1", True)


def test_uids_are_unique_and_differ_between_processes() -> None:
    one, other = Uids(), Uids()
    made = [one() for _ in range(1000)] + [other() for _ in range(1000)]
    assert len(set(made)) == 2000 and all(len(u) <= 64 for u in made)
