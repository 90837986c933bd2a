"""The one seam where async code reaches the ORM: run a sync function in the DB thread."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from channels.db import database_sync_to_async

T = TypeVar("T")


async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` (ORM work) off the event loop; closes stale connections."""
    return await database_sync_to_async(fn)(*args, **kwargs)
