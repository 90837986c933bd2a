"""Sliding-window counters for the HTTP faces that prompt a user (XEP-0070 §6.1: a portal must
not become a tool to flood someone's client): at most `limit` hits per key in any `period`
seconds, in bounded memory (`limit` timestamps per key, at most `max_keys` keys: the least
recently used key is forgotten first)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class Window:
    def __init__(self, period: float = 60.0, max_keys: int = 10000) -> None:
        self.period = period
        self.max_keys = max_keys
        self.hits: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, limit: int) -> bool:
        """Count one hit for `key` unless it already had `limit` within the period (0: no limit)."""
        if limit <= 0:
            return True
        now = time.monotonic()
        log = self.hits.pop(key, None) or deque()
        while log and log[0] <= now - self.period:
            log.popleft()
        self.hits[key] = log
        if len(log) >= limit:
            return False
        log.append(now)
        while len(self.hits) > self.max_keys:
            self.hits.popitem(last=False)
        return True

    def clear(self) -> None:
        self.hits.clear()
