#!/usr/bin/env python
"""XEP-0313 archive query latency with a large archive table (issue 11).

Fills the archive table with N rows (spread over --owners archives, each talking with
--contacts contacts), then times, through `archive.actions.query` (the code a MAM query
runs in the DB thread, paging and counts included):

  last50-with    the last 50 messages with one contact (<before/> empty, 'with' filter)
  last50         the last page of the whole archive
  deep-after     one page of 50 forward from a message 10% into the archive (keyset 'after')
  deep-before    one page of 50 back from that message (keyset 'before')
  since          the first page after a date half-way through the archive ('start')
  fulltext       a word found in 1 body out of 1000 (PostgreSQL: the GIN index)
  count          <max>0</max>: the count alone (XEP-0059 §2.7; approximate above 10 000 rows
                 on PostgreSQL: "count" shows the exact and the reported figures)
and the cost of writing (do_append, the write buffer's batches of 500), per row: of the fill,
or, when the rows are reused, of --write-rows rows written to other archives and deleted.

Uses the database of DATABASE_URL (the settings' default: SQLite in XMPP_DATA_DIR):

  DATABASE_URL=postgres://... python bench/mam_query.py --rows 1000000
  DATABASE_URL=sqlite:////tmp/mam.sqlite3 python bench/mam_query.py --rows 50000

Rows of a previous run with the same --rows/--owners are reused (--refill to start again).
Prints one JSON line (milliseconds: median and 95th percentile of --repeat runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")

DOMAIN = "bench.local"
RARE_WORD = "zanzibar"


def setup() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def owner(i: int, domain: str = DOMAIN) -> str:
    return f"owner{i}@{domain}"


def contact(i: int, domain: str = DOMAIN) -> str:
    return f"contact{i}@{domain}"


def fill(rows: int, owners: int, contacts: int, batch: int, domain: str = DOMAIN) -> float:
    """Write `rows` rows through do_append; returns the seconds spent writing."""
    from archive.actions import Row, do_append

    start_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
    spent = 0.0
    for first in range(0, rows, batch):
        chunk = []
        for n in range(first, min(rows, first + batch)):
            body = f"message {n} {RARE_WORD}" if n % 1000 == 0 else f"message number {n} of the bench"
            mine, theirs = owner(n % owners, domain), contact(n // owners % contacts, domain)
            xml = (f"<message xmlns='jabber:client' type='chat' to='{mine}' "
                   f"from='{theirs}/r' id='m{n}'><body>{body}</body></message>")
            chunk.append(Row(mine, theirs, "r",
                             "in" if n % 2 else "out", f"s{n}", f"o{n}",
                             start_at + timedelta(seconds=n), xml, body, False))
        began = time.perf_counter()
        do_append(chunk)
        spent += time.perf_counter() - began
        if first // batch % 20 == 0:
            print(f"  {first + len(chunk)}/{rows} rows", file=sys.stderr)
    return spent


def write_cost(rows: int, owners: int, contacts: int, batch: int) -> float:
    """µs per row of writing `rows` more rows to archives of another domain, then deleted."""
    from archive.models import ArchivedMessage

    domain = f"write.{DOMAIN}"
    try:
        return round(fill(rows, owners, contacts, batch, domain) / rows * 1e6, 2)
    finally:
        ArchivedMessage.objects.filter(owner__endswith=f"@{domain}").delete()


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm: plan caches, the OS page cache
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 3),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 3)}


def measure(owners: int, repeat: int) -> dict[str, Any]:
    from archive import actions
    from archive.models import ArchivedMessage
    from archive.query import Filter
    from xmppcore.jid import JID
    from xmppcore.rsm import ResultSet

    who = owner(0)
    mine = ArchivedMessage.objects.filter(owner=who)
    size = mine.count()
    deep = mine.order_by("id").values_list("stanza_id", flat=True)[size // 10]
    with_contact = Filter(with_jid=JID.parse(contact(0)))
    halfway = mine.order_by("id").values_list("timestamp", flat=True)[size // 2]
    cases = {
        "last50-with": lambda: actions.query(who, with_contact, ResultSet(max=50, before=""), 50),
        "last50": lambda: actions.query(who, Filter(), ResultSet(max=50, before=""), 50),
        "deep-after": lambda: actions.query(who, Filter(), ResultSet(max=50, after=deep), 50),
        "deep-before": lambda: actions.query(who, Filter(), ResultSet(max=50, before=deep), 50),
        "since": lambda: actions.query(who, Filter(start=halfway), ResultSet(max=50), 50),
        "fulltext": lambda: actions.query(who, Filter(fulltext=RARE_WORD), ResultSet(max=50), 50),
        "count": lambda: actions.query(who, Filter(), ResultSet(max=0), 50),
    }
    checks = {name: len(fn().rows) for name, fn in cases.items()}
    reported = {"exact": size, "reported": cases["count"]().count,
                "last50_index": cases["last50"]().index}
    return {"owner_rows": size, "page_rows": checks, "counts": reported,
            **{name: timed(fn, repeat) for name, fn in cases.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--owners", type=int, default=10, help="archives the rows are spread over")
    parser.add_argument("--contacts", type=int, default=20, help="contacts of each archive")
    parser.add_argument("--batch", type=int, default=500, help="rows per do_append (the buffer's)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--refill", action="store_true", help="delete the bench rows first")
    parser.add_argument("--write-rows", type=int, default=20_000,
                        help="rows written (then deleted) to time writes when the rows are reused")
    args = parser.parse_args()
    setup()
    from django.db import connection

    from archive.models import ArchivedMessage

    bench_rows = ArchivedMessage.objects.filter(owner__endswith=f"@{DOMAIN}")
    write_us = None
    if args.refill or bench_rows.count() != args.rows:
        bench_rows.delete()
        write_us = round(fill(args.rows, args.owners, args.contacts, args.batch) / args.rows * 1e6, 2)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE archive_archivedmessage")
    elif args.write_rows:
        write_us = write_cost(args.write_rows, args.owners, args.contacts, args.batch)
    result = {"bench": "mam_query", "db": connection.vendor, "rows": args.rows,
              "owners": args.owners, "contacts": args.contacts, "write_us_per_row": write_us,
              **measure(args.owners, args.repeat)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
