"""XEP-0059: Result Set Management — read a request's `<set/>`, page a result set, answer
with the reply's `<set/>`. Pure functions: no I/O, no clock, no Django.

A module that returns a list which may be long does three things:

    request = rsm.ResultSet.find(stanza.payload)     # None: the client did not ask (§4)
    page = rsm.page_sequence(rooms, request, key=lambda room: room.jid, max_page=100)
    query = ...items of page.items...; page.to_element(query)   # only when request is not None

- MUC's disco#items of rooms (XEP-0045 §6.3, XEP-0059 §3): the room list lives in memory,
  so `page_sequence` over it, sorted by JID, the JID as the UID.
- pubsub items (XEP-0060 §6.5.4) and MAM queries (XEP-0313 §4.3): the items are rows, so
  the module implements `Source` over a queryset — `count()`, `position(uid)` (how many
  rows sort before that row; None when it is gone), `slice(start, stop)` (OFFSET/LIMIT)
  and `key(row)` — and runs `rsm.page(source, request, max_page=…)` inside
  `xmppd.storage.db(...)`, since the callbacks query the database.

Paging (§2): `after` pages forward from the item after that UID, `before` pages back to
the item before it, an empty `<before/>` asks for the last page (§2.5), `index` jumps to a
position (§2.6), `<max>0</max>` asks for the count alone (§2.7). RSM leaves `after` and
`before` together undefined (XEP-0313 §4.3 notes it): we page forward from `after` and stop
short of `before`, the one reading that honours both.
`max` is capped at the caller's `max_page`, which is also the page size when the client
gives none (§2.1: a page holds at most `max` items, so fewer is within the rules). A UID that is not
in the set is `<item-not-found/>` (§2.4); a `max` or `index` that is not a non-negative
integer, or an `index` together with a UID, is `<bad-request/>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Protocol, Sequence, TypeVar

from lxml import etree

from xmppcore import ns, xso
from xmppcore.errors import StanzaError

T = TypeVar("T")


class First(xso.Payload, namespace=ns.RSM, name="first"):
    """§2.2: the UID of the page's first item and its position in the full set."""

    index: int | None = xso.attr(type=int, default=None)
    uid: str = xso.text()


class ResultSet(xso.Payload, namespace=ns.RSM, name="set"):
    """The `<set/>` element of a request (max, after, before, index) or of a reply
    (first, last, count); field order is the examples' order of §2."""

    max: int | None = xso.text_child(type=int, default=None)
    after: str | None = xso.text_child(default=None)
    before: str | None = xso.text_child(default=None)  # "" (an empty <before/>): the last page
    index: int | None = xso.text_child(type=int, default=None)
    first: First | None = xso.child(First, default=None)
    last: str | None = xso.text_child(default=None)
    count: int | None = xso.text_child(type=int, default=None)

    @classmethod
    def from_element(cls, el: etree._Element) -> ResultSet:
        request = super().from_element(el)
        check_request(request)
        return request


def check_request(request: ResultSet) -> None:
    """The XEP-0059 §2 rules for a request's values; StanzaError('bad-request') if broken."""
    if request.max is not None and request.max < 0:
        raise StanzaError("bad-request", "<max/> is a non-negative integer")
    if request.index is not None and request.index < 0:
        raise StanzaError("bad-request", "<index/> is a non-negative integer")
    if request.index is not None and (request.after is not None or request.before is not None):
        # §2.6: an index is asked for only when no UID is known.
        raise StanzaError("bad-request", "<index/> does not go with <after/> or <before/>")


class Source(Protocol[T]):
    """An ordered result set that is queried rather than held (a queryset, an archive)."""

    def count(self) -> int:
        """How many items the full set has (§2.2 <count/>)."""

    def position(self, uid: str) -> int | None:
        """The index of the item with this UID in the full set, or None if it is not there."""

    def slice(self, start: int, stop: int) -> Sequence[T]:
        """The items from index `start` (inclusive) to `stop` (exclusive), in order."""

    def key(self, item: T) -> str:
        """The item's UID, unique in the set and opaque to the client (§2.2)."""


@dataclass(frozen=True, slots=True)
class SequenceSource(Generic[T]):
    """A `Source` over a sequence already in memory, in its order."""

    items: Sequence[T]
    uid: Callable[[T], str]

    def count(self) -> int:
        return len(self.items)

    def position(self, uid: str) -> int | None:
        return next((i for i, item in enumerate(self.items) if self.uid(item) == uid), None)

    def slice(self, start: int, stop: int) -> Sequence[T]:
        return self.items[start:stop]

    def key(self, item: T) -> str:
        return self.uid(item)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page: its items, the index of the first one in the full set, and the set's size."""

    items: Sequence[T]
    index: int
    count: int
    first: str | None = None
    last: str | None = None

    def result_set(self) -> ResultSet:
        """§2.2: first (with its index), last and count; an empty page gives the count only."""
        if not self.items:
            return ResultSet(count=self.count)
        return ResultSet(first=First(uid=self.first or "", index=self.index), last=self.last,
                         count=self.count)

    def to_element(self, parent: etree._Element | None = None) -> etree._Element:
        """The reply's `<set/>`, appended to `parent` (the wrapper's payload) when given."""
        return self.result_set().to_element(parent)


def page(source: Source[T], request: ResultSet | None, *, max_page: int) -> Page[T]:
    """The page of `source` that `request` asks for (§2); no request: the first page."""
    request = request or ResultSet()
    size = max_page if request.max is None else min(request.max, max_page)
    count = source.count()
    start, stop = _window(source, request, size, count)
    items = source.slice(start, stop) if stop > start else []
    if not items:
        return Page(items=[], index=start, count=count)
    return Page(items=items, index=start, count=count, first=source.key(items[0]),
                last=source.key(items[-1]))


def page_sequence(items: Sequence[T], request: ResultSet | None, *, key: Callable[[T], str],
                  max_page: int) -> Page[T]:
    """`page` over a sequence in memory; `key` gives an item's UID."""
    return page(SequenceSource(items, key), request, max_page=max_page)


def _window(source: Source[T], request: ResultSet, size: int, count: int) -> tuple[int, int]:
    """[start, stop) of the requested page in the full set."""
    if request.index is not None:  # §2.6: an index at or past the end gives an empty page
        return request.index, min(count, request.index + size)
    low = 0 if request.after is None else _position(source, request.after) + 1
    high = count if not request.before else _position(source, request.before)
    if request.before is not None and request.after is None:
        # §2.3: the page ends right before `before`; §2.5: an empty one means the end.
        return max(low, high - size), high
    return low, max(low, min(high, low + size))  # §2.2: the page starts right after `after`


def _position(source: Source[T], uid: str) -> int:
    found = source.position(uid)
    if found is None:
        # §2.4: the UID names no item and we cannot tell where it was.
        raise StanzaError("item-not-found")
    return found
