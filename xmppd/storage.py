"""The one seam where async code reaches the ORM: run a sync function in the DB thread."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from channels.db import database_sync_to_async
from django.db import connection

T = TypeVar("T")


async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` (ORM work) off the event loop; closes stale connections."""
    return await database_sync_to_async(fn)(*args, **kwargs)


def select(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Raw SELECT for the few reads every login makes (credentials, roster, offline check):
    the ORM's query compilation costs more than the query itself. Sync: call it inside `db`.
    Placeholders are %s on every backend (Django's cursor adapts them)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
