"""The archive's writers (`do_*`, the only functions that change `archive` rows) and readers.

Synchronous ORM code: the XMPP module calls it through `xmppd.storage.db`, the admin and
the retention task directly. Queries page by keyset on `id` (XEP-0059 after/before turn
into `id > x` / `id < x` on the owner's index), never by OFFSET, except for an explicit
XEP-0059 <index/> (a client that asks for a position gets one).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, NamedTuple

from django.apps import apps
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from archive.models import ArchivedMessage, ArchivePrefs
from archive.query import Filter
from xmppcore.errors import StanzaError
from xmppcore.rsm import ResultSet
from xmppd.storage import execute_many

log = logging.getLogger(__name__)
EXPIRY_CHUNK = 5000  # rows deleted per statement by the retention sweep
EXACT_COUNT = 1000  # a query counts its set exactly up to this many rows (then estimates)


class Row(NamedTuple):
    """One message to append (built by the write buffer, off the message path)."""

    owner: str
    with_jid: str
    with_resource: str
    direction: str  # "in" | "out"
    stanza_id: str
    origin_id: str
    timestamp: datetime
    stanza: str
    body: str
    roster_check: bool  # archive only if `with_jid` is in the owner's roster (XEP-0441 'roster')


# -- writers --------------------------------------------------------------------------

_COLUMNS = ("owner", "with_jid", "with_resource", "direction", "stanza_id", "origin_id",
            "timestamp", "stanza", "body")


def do_append(rows: Iterable[Row]) -> int:
    """Append a batch in one transaction; returns how many rows were offered to the table.

    One raw INSERT run for all rows (xmppd.storage.execute_many): the ORM's bulk_create
    spends more time compiling than the database spends writing. ON CONFLICT DO NOTHING
    (PostgreSQL, SQLite >= 3.24): a batch retried after an error that came after its commit
    must not fail on the rows it wrote (owner + stanza id is unique).
    """
    rows = _roster_filtered(list(rows))
    if not rows:
        return 0
    quote = connection.ops.quote_name
    stamp = connection.ops.adapt_datetimefield_value
    sql = (f"INSERT INTO {quote(ArchivedMessage._meta.db_table)} "
           f"({', '.join(quote(c) for c in _COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
           "ON CONFLICT DO NOTHING")
    values = [(r.owner, r.with_jid, r.with_resource, r.direction, r.stanza_id, r.origin_id,
               stamp(r.timestamp), r.stanza, r.body) for r in rows]
    with transaction.atomic():
        execute_many(sql, values)
    return len(values)


def _roster_filtered(rows: list[Row]) -> list[Row]:
    """Decide the rows whose preferences said 'roster' while the roster was not in memory."""
    pending = {(r.owner, r.with_jid) for r in rows if r.roster_check}
    if not pending:
        return rows
    listed = _in_rosters(pending)
    return [r for r in rows if not r.roster_check or (r.owner, r.with_jid) in listed]


def _in_rosters(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if not apps.is_installed("rosters"):
        return set()
    item = apps.get_model("rosters", "RosterItem")  # named lazily: rosters is a sibling app
    found: set[tuple[str, str]] = set()
    for owner, contact in pairs:
        username, _, domain = owner.partition("@")
        if item.objects.filter(username=username, domain=domain, jid=contact, is_listed=True).exists():
            found.add((owner, contact))
    return found


def do_set_prefs(owner: str, default: str, always: Iterable[str], never: Iterable[str]) -> None:
    ArchivePrefs.objects.update_or_create(
        owner=owner, defaults={"default": default, "always": sorted(always), "never": sorted(never)})


def do_delete_messages(owner: str, ids: list[int]) -> int:
    """Delete these rows of that archive (the admin); returns how many went."""
    deleted, _ = ArchivedMessage.objects.filter(owner=owner, id__in=ids).delete()
    return deleted


def do_replace_stanza(owner: str, stanza_id: str, xml: str) -> int:
    """XEP-0425: the message becomes its tombstone (the body goes: it is no longer found by a
    full-text search); returns how many rows changed (0: no such message)."""
    return ArchivedMessage.objects.filter(owner=owner, stanza_id=stanza_id).update(stanza=xml, body="")


def do_delete_archive(owner: str) -> int:
    deleted, _ = ArchivedMessage.objects.filter(owner=owner).delete()
    ArchivePrefs.objects.filter(owner=owner).delete()
    if deleted:
        log.info("deleted the archive of %s (%d messages)", owner, deleted)
    return deleted


def do_expire(days: int, now: datetime | None = None) -> int:
    """Retention (XMPP_MAM_RETENTION_DAYS): delete rows older than `days`; 0 keeps all."""
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:  # in chunks: one huge DELETE would hold its locks for the whole sweep
        ids = list(ArchivedMessage.objects.filter(timestamp__lt=cutoff)
                   .values_list("id", flat=True)[:EXPIRY_CHUNK])
        if not ids:
            return total
        deleted, _ = ArchivedMessage.objects.filter(id__in=ids).delete()
        total += deleted


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: the archive goes in the same transaction."""
    do_delete_archive(f"{instance.username}@{instance.domain}")


# -- readers --------------------------------------------------------------------------

def load_prefs(owner: str | None = None) -> dict[str, tuple[str, list[str], list[str]]]:
    """Stored preferences (of one archive, or of all): owner -> (default, always, never)."""
    rows = ArchivePrefs.objects.all() if owner is None else ArchivePrefs.objects.filter(owner=owner)
    return {p.owner: (p.default, list(p.always), list(p.never)) for p in rows}


def metadata(owner: str) -> tuple[tuple[str, datetime], tuple[str, datetime]] | None:
    """XEP-0313 §7: (id, timestamp) of the first and of the last message; None when empty."""
    rows = ArchivedMessage.objects.filter(owner=owner).values_list("stanza_id", "timestamp")
    first = rows.order_by("id").first()
    if first is None:
        return None
    return first, rows.order_by("-id").first() or first


def stored(owner: str, stanza_id: str) -> str | None:
    """The serialized message archived under that UID, None when there is none."""
    return (ArchivedMessage.objects.filter(owner=owner, stanza_id=stanza_id)
            .values_list("stanza", flat=True).first())


def senders(owner: str, stanza_ids: list[str]) -> dict[str, str]:
    """UID -> the full JID the message came from (`with`, `with_resource`): a room archive's
    publishers (XEP-0313 §5.1.2 business rules)."""
    rows = ArchivedMessage.objects.filter(owner=owner, stanza_id__in=stanza_ids)
    return {uid: f"{bare}/{resource}" if resource else bare
            for uid, bare, resource in rows.values_list("stanza_id", "with_jid", "with_resource")}


@dataclass(frozen=True)
class Result:
    """One page: (uid, timestamp, XML) oldest first; complete: nothing further that way."""

    rows: list[tuple[str, datetime, str]]
    complete: bool
    count: int
    index: int | None


def query(owner: str, flt: Filter, request: ResultSet | None, max_page: int) -> Result:
    """XEP-0313 §4 with XEP-0059 paging, on the archive of `owner`.

    Every statement is bounded: the page is a keyset index scan of `size + 1` rows, and the
    count (XEP-0059 §2.2 <count/>, <first index>) counts at most EXACT_COUNT rows; a larger
    set gets the planner's estimate, which §2.2 allows ("MAY be approximate")."""
    request = request or ResultSet()
    ids = _ids(owner, [flt.before_id, flt.after_id, *(flt.ids or ()), request.after,
                       request.before or None])
    rows = _filtered(owner, flt, ids)
    count = _count(rows)
    size = max_page if request.max is None else min(request.max, max_page)
    page, complete = _page(rows, request, ids, size, count)
    index = _index(rows, request, page, complete, count)
    return Result([(uid, ts, xml) for uid, ts, xml, _ in page], complete, count, index)


def _count(rows: QuerySet[ArchivedMessage]) -> int:
    """The size of the set, never by reading all of a large archive (half a second for
    100 000 rows on a busy PostgreSQL). PostgreSQL: the planner's estimate when it says
    more than 10 × EXACT_COUNT rows; else a count LIMITed to EXACT_COUNT + 1 rows, exact
    when under it, read newest first (the (owner, id) / (owner, with_jid, id) index backward,
    never a sequential scan that would meet a recent archive's rows last). Other databases
    (SQLite: a covering index, no MVCC): that bounded count, then the count."""
    if rows.query.is_empty():
        return 0
    estimate = _estimate(rows) if connection.vendor == "postgresql" else None
    if estimate is not None and estimate > 10 * EXACT_COUNT:
        return estimate
    bounded = rows.order_by("-id")[:EXACT_COUNT + 1].count()
    if bounded <= EXACT_COUNT:
        return bounded
    return rows.count() if estimate is None else max(bounded, estimate)


def _estimate(rows: QuerySet[ArchivedMessage]) -> int:
    """The planner's row estimate for this set (its statistics, no row read)."""
    sql, params = rows.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _index(rows: QuerySet[ArchivedMessage], request: ResultSet, page: list[Item],
           complete: bool, count: int) -> int | None:
    """XEP-0059 §2.2: the position of the page's first item, from what is known when it is
    at either end of the set, else a (bounded) count of the items before it."""
    if not page:
        return None
    if request.index is not None:
        return request.index
    backward = request.before is not None and not request.after
    if (not backward and not request.after) or (backward and complete):
        return 0  # the page starts the set
    if (backward and request.before == "") or (not backward and complete):
        return max(count - len(page), 0)  # the page ends the set
    return _count(rows.filter(id__lt=page[0][3]))


def _ids(owner: str, uids: list[str | None]) -> dict[str, int]:
    """Row ids of the archive UIDs a query names; item-not-found for one that is not there
    (XEP-0313 §4.1.3, §4.2: the server MUST return item-not-found)."""
    wanted = {u for u in uids if u}
    if not wanted:
        return {}
    found = dict(ArchivedMessage.objects.filter(owner=owner, stanza_id__in=wanted).order_by()
                 .values_list("stanza_id", "id"))
    if len(found) < len(wanted):
        raise StanzaError("item-not-found", "no such message in the archive")
    return found


def _filtered(owner: str, flt: Filter, ids: dict[str, int]) -> QuerySet[ArchivedMessage]:
    rows = ArchivedMessage.objects.filter(owner=owner)
    if flt.with_jid is not None:  # §4.1.1: a bare JID matches every resource of it
        rows = rows.filter(with_jid=str(flt.with_jid.bare))
        if flt.with_jid.resource is not None:
            rows = rows.filter(with_resource=flt.with_jid.resource)
    if flt.start is not None:  # §4.1.2: inclusive bounds
        rows = _id_bound(rows.filter(timestamp__gte=flt.start), "id__gte",
                         _edge(owner, "timestamp", "id", timestamp__gte=flt.start))
    if flt.end is not None:
        rows = _id_bound(rows.filter(timestamp__lte=flt.end), "id__lte",
                         _edge(owner, "-timestamp", "-id", timestamp__lte=flt.end))
    if flt.after_id is not None:  # §4.1.3: exclusive
        rows = rows.filter(id__gt=ids[flt.after_id])
    if flt.before_id is not None:
        rows = rows.filter(id__lt=ids[flt.before_id])
    if flt.ids is not None:  # §4.1.4: single-item retrieval
        rows = rows.filter(id__in=[ids[u] for u in flt.ids])
    if flt.fulltext:
        rows = _fulltext(rows, flt.fulltext)
    return rows


def _edge(owner: str, *order: str, **bound: datetime) -> int | None:
    """The id of the archive's first row (in `order`) within a time bound: one step on the
    (owner, timestamp) index. The archive is chronological by id (rows are written in the
    order they were routed), so a start/end filter is also an id range, which the keyset
    page scans on the (owner, id) index; PostgreSQL's planner otherwise reads the primary
    key from the far end of the table, filtering on the time (half a second at 1M rows)."""
    return (ArchivedMessage.objects.filter(owner=owner, **bound).order_by(*order)
            .values_list("id", flat=True).first())


def _id_bound(rows: QuerySet[ArchivedMessage], lookup: str,
              edge: int | None) -> QuerySet[ArchivedMessage]:
    """The rows narrowed to the id range of a time bound; none when no row is within it."""
    return rows.none() if edge is None else rows.filter(**{lookup: edge})


def is_fulltext_indexed() -> bool:
    """PostgreSQL: a GIN index on the bodies; elsewhere a substring scan of one archive."""
    return connection.vendor == "postgresql"


def _fulltext(rows: QuerySet[ArchivedMessage], text: str) -> QuerySet[ArchivedMessage]:
    """XEP-0431: every word of `text` in the body (PostgreSQL's text search; case-insensitive
    substring match elsewhere). The expression is the one of the migration's GIN index."""
    if is_fulltext_indexed():
        return rows.extra(where=["to_tsvector('simple', body) @@ plainto_tsquery('simple', %s)"],
                          params=[text])
    for word in text.split():
        rows = rows.filter(body__icontains=word)
    return rows


Item = tuple[str, datetime, str, int]
_FIELDS = ("stanza_id", "timestamp", "stanza", "id")


def _page(rows: QuerySet[ArchivedMessage], request: ResultSet, ids: dict[str, int], size: int,
          count: int) -> tuple[list[Item], bool]:
    """The page and whether it reaches the end of the set in its direction (<fin complete/>)."""
    if size == 0:  # XEP-0059 §2.7: the count alone
        return [], count == 0
    if request.index is not None:  # XEP-0059 §2.6: a position was asked for
        page = list(rows.order_by("id").values_list(*_FIELDS)[request.index:request.index + size + 1])
        return page[:size], len(page) <= size
    if request.after:
        rows = rows.filter(id__gt=ids[request.after])
    if request.before:
        rows = rows.filter(id__lt=ids[request.before])
    if request.before is not None and not request.after:
        # §2.3: the page right before an item; §2.5: an empty <before/> is the last page.
        # With both after and before (undefined by RSM) it pages forward, like xmppcore.rsm.
        page = list(rows.order_by("-id").values_list(*_FIELDS)[:size + 1])
        return page[:size][::-1], len(page) <= size
    page = list(rows.order_by("id").values_list(*_FIELDS)[:size + 1])
    return page[:size], len(page) <= size
