"""The archive's write buffer: the message path appends, a background task writes.

`append` is the only thing a routed message costs: one tuple on a list (no database, no
await, no serialization). `run` wakes every `interval` seconds, or as soon as `batch`
entries wait, serializes the batch (once per element: a message archived on both sides is
one element) and writes it with `archive.actions.do_append` in one transaction. A failed
write keeps the batch, in order, for the next try; `flush` is also awaited before every
query (a query sees every message routed before it) and at server stop.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import NamedTuple

from lxml import etree

from archive import actions
from archive.actions import Row
from xmppcore import ns
from xmppcore.jid import JID
from xmppd.storage import db

log = logging.getLogger(__name__)
_BODY = ns.q(ns.CLIENT, "body")
_ORIGIN_ID = ns.q(ns.STANZA_ID, "origin-id")


class Entry(NamedTuple):
    owner: JID  # bare
    with_jid: JID  # the other party, as addressed (full or bare)
    direction: str  # "in" | "out"
    stanza_id: str
    at: float  # time.time() when it was routed
    el: etree._Element
    roster_check: bool


def to_rows(entries: list[Entry]) -> list[Row]:
    """Serialize a batch: each element once, however many archives it goes into."""
    cache: dict[int, tuple[str, str, str]] = {}
    rows: list[Row] = []
    for e in entries:
        done = cache.get(id(e.el))
        if done is None:
            origin = e.el.find(_ORIGIN_ID)
            done = cache[id(e.el)] = (etree.tostring(e.el, encoding="unicode"),
                                      e.el.findtext(_BODY) or "",
                                      (origin.get("id") or "")[:255] if origin is not None else "")
        xml, body, origin_id = done
        rows.append(Row(str(e.owner), str(e.with_jid.bare), e.with_jid.resource or "", e.direction,
                        e.stanza_id, origin_id, datetime.fromtimestamp(e.at, timezone.utc), xml, body,
                        e.roster_check))
    return rows


class WriteBuffer:
    def __init__(self, interval: float, batch: int) -> None:
        self.interval = interval
        self.batch = batch
        self.pending: list[Entry] = []
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None

    def append(self, entry: Entry) -> None:
        pending = self.pending
        pending.append(entry)
        if len(pending) >= self.batch and self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """At server stop: write what waits, then end the background task."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()
        if self.pending:
            log.error("archive: %d message(s) could not be written at stop", len(self.pending))

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write everything appended so far (one writer at a time: the order is kept)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while self.pending:
                taken, self.pending = self.pending, []
                try:
                    await db(actions.do_append, to_rows(taken))
                except asyncio.CancelledError:
                    # Stopped mid-write: keep the batch; if the write went through after
                    # all, writing it again is a no-op (owner + stanza id is unique).
                    self.pending[:0] = taken
                    raise
                except Exception:
                    log.exception("archive: writing %d message(s) failed; kept for a retry", len(taken))
                    self.pending[:0] = taken
                    return
