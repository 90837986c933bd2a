"""A prioritized event bus, like Prosody's: handlers run highest priority first; the
first one to return something other than None ends the run and its value is returned."""

from __future__ import annotations

import inspect
import itertools
import logging
from typing import Any, Callable

log = logging.getLogger(__name__)
Handler = Callable[..., Any]
_seq = itertools.count()


class HookBus:
    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[int, int, Handler]]] = {}
        self._handlers: dict[str, tuple[Handler, ...]] = {}

    def add(self, event: str, handler: Handler, priority: int = 0) -> None:
        entries = self._entries.setdefault(event, [])
        entries.append((-priority, next(_seq), handler))
        entries.sort(key=lambda e: (e[0], e[1]))
        self._handlers[event] = tuple(h for _, _, h in entries)

    def remove(self, event: str, handler: Handler) -> None:
        entries = [e for e in self._entries.get(event, []) if e[2] is not handler]
        self._entries[event] = entries
        self._handlers[event] = tuple(h for _, _, h in entries)

    def has(self, event: str) -> bool:
        return bool(self._handlers.get(event))

    def handlers(self, event: str) -> tuple[Handler, ...]:
        return self._handlers.get(event, ())

    async def fire(self, event: str, *args: Any) -> Any:
        """Run the handlers of `event`; sync handlers stay sync (no task, no await)."""
        for handler in self._handlers.get(event, ()):
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        return None

    def fire_sync(self, event: str, *args: Any) -> Any:
        """For events whose handlers are all synchronous (notifications, features)."""
        for handler in self._handlers.get(event, ()):
            result = handler(*args)
            if result is not None:
                return result
        return None

    async def fire_all(self, event: str, *args: Any) -> None:
        """Run every handler, ignoring results; an exception in one does not stop the rest."""
        for handler in self._handlers.get(event, ()):
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # one broken module must not take the others down
                log.exception("hook %s failed in %r", event, handler)
