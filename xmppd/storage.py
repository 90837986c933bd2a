"""The one seam where async code reaches the ORM: run a sync function in the DB thread."""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from channels.db import database_sync_to_async
from django.db import connection

T = TypeVar("T")
log = logging.getLogger(__name__)


async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` (ORM work) off the event loop; closes stale connections."""
    try:
        wrapped = _in_db_thread(fn)
    except TypeError:  # an unhashable callable
        wrapped = database_sync_to_async(fn)
    return await wrapped(*args, **kwargs)


async def derive(fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-bound key derivation (PBKDF2 for SASL PLAIN, RFC 5802 §3) on its own small
    pool: a burst of password checks must not queue behind it every other database read
    (the DB thread serves every login's reads)."""
    return await asyncio.get_running_loop().run_in_executor(_derivation_pool(), fn, *args)


@functools.lru_cache(maxsize=1)
def _derivation_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="pbkdf2")


# The wrapper of a function is reusable: build it once per function, not at every call
# (a few microseconds each, three times per login). Bounded: lambdas come and go.
_in_db_thread = functools.lru_cache(maxsize=256)(database_sync_to_async)


def select(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Raw SELECT for the few reads every login makes (credentials, roster, offline check):
    the ORM's query compilation costs more than the query itself. Sync: call it inside `db`.
    Placeholders are %s on every backend (Django's cursor adapts them)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Session.data key of the login's Prefetch, from the bind until `session/bound` has run.
PREFETCH = "login.prefetch"


def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """One raw statement run for many rows (a burst of logouts): the ORM would build one
    query per row, which costs more than the writes. Sync: call it inside `db` (and a
    transaction); returns the number of rows changed."""
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return cursor.rowcount


class Writes:
    """Tells a reader whether a write may have happened since it read (a prefetch taken
    one round trip before it is used must not hide a change made meanwhile).

    `snapshot()` before reading; `is_unchanged(snapshot)` later is True only when no write
    was under way at the snapshot and none has started since: the read saw everything.
    """

    __slots__ = ("_epoch", "_running")

    def __init__(self) -> None:
        self._epoch = 0
        self._running = 0

    def snapshot(self) -> int | None:
        return None if self._running else self._epoch

    def is_unchanged(self, snapshot: int | None) -> bool:
        return snapshot is not None and snapshot == self._epoch

    def changed(self) -> None:
        """A write happened elsewhere (another cluster node): earlier reads are stale."""
        self._epoch += 1

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around a write (which may await): readers started before it cannot trust their copy."""
        self._epoch += 1
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self._epoch += 1


class Prefetch:
    """Reads one login will need, run together in one trip to the DB thread.

    Started at SASL success (the `auth/success` hook lets each module `add` a reader), so
    the reads overlap the client's stream restart and bind request (RFC 6120 §6.4.6, §7);
    awaited by the bind, taken by the modules at `session/bound`. It belongs to the one
    connection that started it: an aborted login drops it with the connection.
    """

    __slots__ = ("_readers", "_results", "_task", "__weakref__")

    def __init__(self) -> None:
        self._readers: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self._results: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        """Read `fn(*args)` (sync, run in the DB thread) with the others, under `key`."""
        self._readers[key] = (fn, args)

    def start(self) -> None:
        if self._readers and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        readers, self._readers = self._readers, {}
        try:
            self._results = await db(_read_all, readers)
        except Exception:  # a reader that is missing is simply read again by its module
            log.exception("login prefetch failed")

    async def ready(self) -> None:
        """Wait until the reads are done (at once when there are none)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def take(self, key: str) -> Any:
        """The result read under `key`, once; None when it was not (or could not be) read."""
        return self._results.pop(key, None)


def _read_all(readers: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for key, (fn, args) in readers.items():
        try:
            results[key] = fn(*args)
        except Exception:  # one failed read must not lose the others
            log.exception("login prefetch of %s failed", key)
    return results
