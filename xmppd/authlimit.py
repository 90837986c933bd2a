"""Slowing down repeated SASL failures, per address and per account (RFC 6120 §13.? "brute force").

Each failure in the window doubles the delay before the next failure answer, up to a
bound; a success is never delayed, so the owner gets in once they type it right.
"""

from __future__ import annotations

import time


class AuthThrottle:
    def __init__(self, base: float = 0.2, maximum: float = 5.0, window: float = 300.0,
                 max_keys: int = 100_000) -> None:
        self.base = base
        self.maximum = maximum
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[str, tuple[int, float]] = {}

    def _count(self, key: str, now: float) -> int:
        entry = self._failures.get(key)
        if entry is None or now - entry[1] > self.window:
            return 0
        return entry[0]

    def delay_for(self, ip: str, account: str | None) -> float:
        """Seconds to wait before answering the next failure from `ip` / for `account`."""
        now = time.monotonic()
        n = max(self._count(f"ip:{ip}", now), self._count(f"acct:{account}", now) if account else 0)
        if n == 0:
            return 0.0
        return min(self.maximum, self.base * (2 ** (n - 1)))

    def record_failure(self, ip: str, account: str | None) -> None:
        now = time.monotonic()
        if len(self._failures) > self.max_keys:  # bound memory under a spray of addresses
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] <= self.window}
        for key in (f"ip:{ip}", f"acct:{account}" if account else None):
            if key:
                self._failures[key] = (self._count(key, now) + 1, now)

    def record_success(self, ip: str, account: str) -> None:
        self._failures.pop(f"acct:{account}", None)
        self._failures.pop(f"ip:{ip}", None)
