"""XEP-0059 Result Set Management: every example of §2 and §3, bytes in, bytes out."""

from __future__ import annotations

import hashlib
from typing import Sequence

import pytest
from lxml import etree

from xmppcore import ns, rsm, xso
from xmppcore.errors import StanzaError, error_reply

RSM = "{http://jabber.org/protocol/rsm}"
_BLANKLESS = etree.XMLParser(remove_blank_text=True)


def c14n(el: etree._Element) -> bytes:
    return etree.tostring(el, method="c14n")


def xml(text: str) -> etree._Element:
    return etree.fromstring(text.strip(), _BLANKLESS)


def request_of(iq: str) -> rsm.ResultSet | None:
    """The <set/> of an example request, read as the server reads it."""
    return rsm.ResultSet.find(xml(iq)[0])


def set_of(example: str) -> bytes:
    """The <set/> of an example response, canonical."""
    return c14n(xml(example).find(f".//{RSM}set"))


def search_uids(count: int, placed: dict[int, str]) -> list[str]:
    """A jabber:iq:search result set whose items at the given positions have the example's UIDs."""
    return [placed.get(i, f"user{i}@example.org") for i in range(count)]


# §2.2: the first page ends with peterpan@neverland.lit, the second begins with peter@pixyland.org.
SEARCH = search_uids(800, {0: "stpeter@jabber.org", 9: "peterpan@neverland.lit",
                           10: "peter@pixyland.org", 19: "peter@rabbit.lit"})


def search_page(uids: Sequence[str], request: rsm.ResultSet | None, max_page: int = 50) -> rsm.Page[str]:
    return rsm.page_sequence(uids, request, key=str, max_page=max_page)


def search_request(id_: str, rsm_set: str) -> str:
    """A jabber:iq:search request of §2 around the example's <set/>."""
    return (f"<iq type='set' from='stpeter@jabber.org/roundabout' to='users.jabber.org' id='{id_}'>"
            f"<query xmlns='jabber:iq:search'><nick>Pete</nick>{rsm_set}</query></iq>")


def search_result(id_: str, rsm_set: str) -> str:
    """A jabber:iq:search result of §2 around the example's <set/> (items left out)."""
    return (f"<iq type='result' from='users.jabber.org' to='stpeter@jabber.org/roundabout' id='{id_}'>"
            f"<query xmlns='jabber:iq:search'>{rsm_set}</query></iq>")


# -- §2.1 and §2.2 -------------------------------------------------------------------

LIMIT_REQUEST = search_request("limit1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
    </set>
""")

FIRST_PAGE_RESULT = search_result("page1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='0'>stpeter@jabber.org</first>
      <last>peterpan@neverland.lit</last>
      <count>800</count>
    </set>
""")


def test_limiting_the_number_of_items() -> None:
    """§2.1: <max>10</max> returns the first ten items in order."""
    request = request_of(LIMIT_REQUEST)
    assert request == rsm.ResultSet(max=10)
    page = search_page(SEARCH, request)
    assert list(page.items) == SEARCH[:10]


def test_returning_the_first_page() -> None:
    """§2.2 'Returning the First Page of a Result Set'."""
    page = search_page(SEARCH, request_of(LIMIT_REQUEST))
    assert c14n(page.to_element()) == set_of(FIRST_PAGE_RESULT)


def test_paging_forwards() -> None:
    """§2.2: the page after the last UID received starts right after it."""
    request = request_of(search_request("page2", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <after>peterpan@neverland.lit</after>
    </set>
"""))
    assert request == rsm.ResultSet(max=10, after="peterpan@neverland.lit")
    page = search_page(SEARCH, request)
    assert list(page.items) == SEARCH[10:20]
    assert c14n(page.to_element()) == set_of(search_result("page2", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='10'>peter@pixyland.org</first>
      <last>peter@rabbit.lit</last>
      <count>800</count>
    </set>
"""))


def test_returning_an_empty_page() -> None:
    """§2.2 'Returning an Empty Page': past the end, only <count/>."""
    uids = search_uids(790, {})
    page = search_page(uids, rsm.ResultSet(max=10, after=uids[-1]))
    assert list(page.items) == []
    assert c14n(page.to_element()) == set_of(search_result("page80", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <count>790</count>
    </set>
"""))


def test_the_reply_is_appended_to_the_wrappers_payload() -> None:
    """§2.2: the <set/> follows the items inside the wrapper's element."""
    query = etree.Element("{jabber:iq:search}query", nsmap={None: "jabber:iq:search"})
    search_page(SEARCH, rsm.ResultSet(max=10)).to_element(query)
    assert c14n(query) == c14n(xml(FIRST_PAGE_RESULT)[0])


# -- §2.3 to §2.7 ---------------------------------------------------------------------

def test_paging_backwards() -> None:
    """§2.3: the page before the first UID received ends right before it."""
    request = request_of(search_request("back1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <before>peter@pixyland.org</before>
    </set>
"""))
    assert request == rsm.ResultSet(max=10, before="peter@pixyland.org")
    page = search_page(SEARCH, request)
    assert list(page.items) == SEARCH[:10]
    assert c14n(page.to_element()) == set_of(FIRST_PAGE_RESULT.replace("page1", "back1"))


def test_a_page_backwards_ends_right_before_the_uid() -> None:
    page = search_page(SEARCH, rsm.ResultSet(max=10, before=SEARCH[500]))
    assert list(page.items) == SEARCH[490:500]
    assert (page.first, page.last, page.index) == (SEARCH[490], SEARCH[499], 490)


def test_a_page_backwards_near_the_start_is_short() -> None:
    page = search_page(SEARCH, rsm.ResultSet(max=10, before=SEARCH[3]))
    assert list(page.items) == SEARCH[:3] and page.index == 0


PAGE_NOT_FOUND_REQUEST = search_request("page2", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <after>peterpan@neverland.lit</after>
    </set>
""")


def test_page_not_found() -> None:
    """§2.4: the UID of a deleted item → <item-not-found/>, type cancel, on the wire."""
    deleted = [uid for uid in SEARCH if uid != "peterpan@neverland.lit"]
    request_iq = xml(PAGE_NOT_FOUND_REQUEST.replace("<iq ", "<iq xmlns='jabber:client' "))
    with pytest.raises(StanzaError) as caught:
        search_page(deleted, rsm.ResultSet.find(request_iq[0]))
    reply = error_reply(request_iq, caught.value)
    assert reply is not None
    expected = xml("""
<iq xmlns='jabber:client' type='error' from='users.jabber.org' to='stpeter@jabber.org/roundabout' id='page2'>
  <error type='cancel'>
    <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
  </error>
</iq>""")
    assert c14n(reply) == c14n(expected)


def test_an_unknown_before_is_not_found_either() -> None:
    with pytest.raises(StanzaError) as caught:
        search_page(SEARCH, rsm.ResultSet(max=10, before="nobody@example.org"))
    assert (caught.value.condition, caught.value.type) == ("item-not-found", "cancel")


def test_requesting_the_last_page() -> None:
    """§2.5: an empty <before/> asks for the last page."""
    request = request_of(search_request("page1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <before/>
    </set>
"""))
    assert request == rsm.ResultSet(max=10, before="")
    page = search_page(SEARCH, request)
    assert list(page.items) == SEARCH[790:]
    # §2.2: the last page's index is the count minus the number of items in it.
    assert c14n(page.to_element()) == c14n(xml(
        "<set xmlns='http://jabber.org/protocol/rsm'><first index='790'>user790@example.org</first>"
        "<last>user799@example.org</last><count>800</count></set>"))


def test_retrieving_a_page_out_of_order() -> None:
    """§2.6: <index>371</index>; <first/>'s index is the one asked for."""
    request = request_of(search_request("index10", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>10</max>
      <index>371</index>
    </set>
"""))
    assert request == rsm.ResultSet(max=10, index=371)
    uids = search_uids(800, {371: "peter@pixyland.org", 380: "peter@rabbit.lit"})
    page = search_page(uids, request)
    assert c14n(page.to_element()) == set_of(search_result("index10", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='371'>peter@pixyland.org</first>
      <last>peter@rabbit.lit</last>
      <count>800</count>
    </set>
"""))


def test_an_index_past_the_end_gives_an_empty_page() -> None:
    """§2.6: an index at or past the count MUST give an empty page."""
    for index in (800, 5000):
        page = search_page(SEARCH, rsm.ResultSet(max=10, index=index))
        assert c14n(page.to_element()) == c14n(xml(
            "<set xmlns='http://jabber.org/protocol/rsm'><count>800</count></set>"))


def test_getting_the_item_count() -> None:
    """§2.7: <max>0</max> returns the count and no items."""
    request = request_of(search_request("count1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>0</max>
    </set>
"""))
    page = search_page(SEARCH, request)
    assert list(page.items) == []
    assert c14n(page.to_element()) == set_of(search_result("count1", """
    <set xmlns='http://jabber.org/protocol/rsm'>
      <count>800</count>
    </set>
"""))


# -- §3: disco#items of a MUC service ---------------------------------------------------

class Item(xso.Payload, namespace=ns.DISCO_ITEMS, name="item"):
    jid: str = xso.attr()


class Items(xso.Payload, namespace=ns.DISCO_ITEMS, name="query"):
    items: list[Item] = xso.children(Item)
    rsm: rsm.ResultSet | None = xso.child(rsm.ResultSet, default=None)


ROOMS = ("12 adium airhitch alphaville apache argia armagetron atticroom123 banquise "
         "bar_paradise beer blondie bpnops brasileiros bulgaria cantinalivre casablanca "
         "chinortpcrew coffeetalk council").split()
# The example's UIDs are opaque hashes; the first and last of the page are given.
ROOM_UIDS = {"12": "acc3594e844c77696f7a7ba9367ae324b6b958ad",
             "council": "4da91d4b330112f683dddaebf93180b1bd25e95f"}
SERVICE_ROOMS = [f"{name}@conference.jabber.org" for name in ROOMS + [f"room{i}" for i in range(130)]]


def room_uid(jid: str) -> str:
    local = jid.split("@")[0]
    return ROOM_UIDS.get(local) or hashlib.sha1(jid.encode()).hexdigest()


def disco_items(request: rsm.ResultSet | None) -> Items:
    page = rsm.page_sequence(SERVICE_ROOMS, request, key=room_uid, max_page=100)
    return Items(items=[Item(jid=jid) for jid in page.items], rsm=page.result_set())


def test_examples_disco_items_limited() -> None:
    """§3: the first 20 of a service's 150 rooms, the whole <query/> on the wire."""
    request = xml("""
<iq type='get' from='stpeter@jabber.org/roundabout' to='conference.jabber.org' id='ex2'>
  <query xmlns='http://jabber.org/protocol/disco#items'>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>20</max>
    </set>
  </query>
</iq>""")
    asked = Items.from_element(request[0])
    assert asked.items == [] and asked.rsm == rsm.ResultSet(max=20)
    items = "".join(f"<item jid='{name}@conference.jabber.org'/>" for name in ROOMS)
    expected = xml(f"""
<query xmlns='http://jabber.org/protocol/disco#items'>{items}
    <set xmlns='http://jabber.org/protocol/rsm'>
      <first index='0'>acc3594e844c77696f7a7ba9367ae324b6b958ad</first>
      <last>4da91d4b330112f683dddaebf93180b1bd25e95f</last>
      <count>150</count>
    </set>
</query>""")
    assert c14n(disco_items(asked.rsm).to_element()) == c14n(expected)


def test_examples_disco_items_after_the_last_received() -> None:
    """§3: the next page begins after the last UID of the first one."""
    asked = Items.from_element(xml("""
<iq type='set' from='stpeter@jabber.org/roundabout' to='conference.jabber.org' id='ex3'>
  <query xmlns='http://jabber.org/protocol/disco#items'>
    <set xmlns='http://jabber.org/protocol/rsm'>
      <max>20</max>
      <after>4da91d4b330112f683dddaebf93180b1bd25e95f</after>
    </set>
  </query>
</iq>""")[0])
    reply = disco_items(asked.rsm)
    assert [item.jid for item in reply.items] == SERVICE_ROOMS[20:40]
    assert reply.rsm == rsm.ResultSet(first=rsm.First(uid=room_uid(SERVICE_ROOMS[20]), index=20),
                                      last=room_uid(SERVICE_ROOMS[39]), count=150)


# -- requests: building, and the ones to refuse ---------------------------------------

def test_a_request_is_built_as_the_examples_write_it() -> None:
    built = rsm.ResultSet(max=10, after="peterpan@neverland.lit").to_element()
    assert c14n(built) == set_of(PAGE_NOT_FOUND_REQUEST)
    assert etree.tostring(rsm.ResultSet(max=10, before="").to_element()) == (
        b'<set xmlns="http://jabber.org/protocol/rsm"><max>10</max><before/></set>')


@pytest.mark.parametrize("body", [
    "<max>ten</max>", "<max>-1</max>", "<max>1_0</max>", "<max></max>", "<index>-3</index>",
    "<index>x</index>", "<max>10</max><index>2</index><after>a</after>", "<index>0</index><before/>",
])
def test_bad_requests(body: str) -> None:
    el = xml(f"<set xmlns='http://jabber.org/protocol/rsm'>{body}</set>")
    with pytest.raises(StanzaError) as caught:
        rsm.ResultSet.from_element(el)
    assert (caught.value.condition, caught.value.type) == ("bad-request", "modify")


def test_max_and_index_may_carry_surrounding_whitespace() -> None:
    el = xml("<set xmlns='http://jabber.org/protocol/rsm'><max> 5 </max><index>\n2\n</index></set>")
    assert rsm.ResultSet.from_element(el) == rsm.ResultSet(max=5, index=2)


def test_no_set_in_the_payload_is_none() -> None:
    assert rsm.ResultSet.find(xml("<query xmlns='jabber:iq:search'/>")) is None
    assert rsm.ResultSet.find(None) is None


# -- paging rules -----------------------------------------------------------------------

def test_without_a_request_the_first_page_has_the_servers_size() -> None:
    page = search_page(SEARCH, None, max_page=25)
    assert list(page.items) == SEARCH[:25] and (page.index, page.count) == (0, 800)


def test_max_is_capped_by_the_server() -> None:
    page = search_page(SEARCH, rsm.ResultSet(max=500), max_page=30)
    assert len(page.items) == 30 and page.last == SEARCH[29]


def test_after_and_before_together_page_between_them() -> None:
    wide = search_page(SEARCH, rsm.ResultSet(max=10, after=SEARCH[100], before=SEARCH[105]))
    assert list(wide.items) == SEARCH[101:105] and wide.index == 101
    narrow = search_page(SEARCH, rsm.ResultSet(max=2, after=SEARCH[100], before=SEARCH[105]))
    assert list(narrow.items) == SEARCH[101:103]
    crossed = search_page(SEARCH, rsm.ResultSet(max=10, after=SEARCH[105], before=SEARCH[100]))
    assert list(crossed.items) == [] and crossed.count == 800


def test_an_empty_set_answers_with_a_zero_count() -> None:
    for request in (None, rsm.ResultSet(before=""), rsm.ResultSet(index=0)):
        page = search_page([], request)
        assert etree.tostring(page.to_element()) == (
            b'<set xmlns="http://jabber.org/protocol/rsm"><count>0</count></set>')


class Rows:
    """A Source as a queryset would be: it records what the pager asks it for."""

    def __init__(self, count: int) -> None:
        self.rows = [(i, f"row{i}") for i in range(count)]
        self.calls: list[tuple[str, object]] = []

    def count(self) -> int:
        self.calls.append(("count", None))
        return len(self.rows)

    def position(self, uid: str) -> int | None:
        self.calls.append(("position", uid))
        return int(uid) if uid.isdigit() and int(uid) < len(self.rows) else None

    def slice(self, start: int, stop: int) -> Sequence[tuple[int, str]]:
        self.calls.append(("slice", (start, stop)))
        return self.rows[start:stop]

    def key(self, item: tuple[int, str]) -> str:
        return str(item[0])


def test_a_queried_source_is_asked_for_one_page_only() -> None:
    rows = Rows(10_000)
    page = rsm.page(rows, rsm.ResultSet(max=3, after="4000"), max_page=50)
    assert [row[1] for row in page.items] == ["row4001", "row4002", "row4003"]
    assert rows.calls == [("count", None), ("position", "4000"), ("slice", (4001, 4004))]
    assert (page.first, page.last, page.index) == ("4001", "4003", 4001)


def test_a_queried_source_is_not_sliced_for_a_count() -> None:
    rows = Rows(7)
    page = rsm.page(rows, rsm.ResultSet(max=0), max_page=50)
    assert page.count == 7 and ("slice", (0, 0)) not in rows.calls
    with pytest.raises(StanzaError):
        rsm.page(rows, rsm.ResultSet(after="99"), max_page=50)
