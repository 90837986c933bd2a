"""Wait for a condition instead of sleeping: poll it until it holds or a timeout says what failed."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable

Condition = Callable[[], Any]


async def wait_for(condition: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, *,
                   what: str = "the condition", interval: float = 0.01) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy, and return that.

    `await wait_for(lambda: srv.server.sessions.get(bob) is None, what="bob's session closed")`"""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {value!r})")
        await asyncio.sleep(interval)


def wait_for_sync(condition: Condition, timeout: float = 5.0, *, what: str = "the condition",
                  interval: float = 0.02) -> Any:
    """The blocking twin of wait_for, for sync fixtures (subprocesses, files)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)
