"""Refusing repeated SASL failures, per address and per account (RFC 6120 §13.8, brute force).

After `free` failures in the window, a key (the peer's address, or the account's bare JID
as normalized by RFC 7622) is locked for a time that doubles with each further failure, up
to `maximum` seconds. An attempt on a locked key is answered at once with
<temporary-auth-failure/> (RFC 6120 §6.5.12) without checking its password: no connection
sleeps and nothing is derived. A success clears its own account's count only; the address
count decays with the window, so an attacker's own account does not reset it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache


class AuthThrottle:
    def __init__(self, base: float = 0.2, maximum: float = 5.0, window: float = 300.0,
                 max_keys: int = 100_000, free: int = 3) -> None:
        self.base = base
        self.maximum = maximum
        self.window = window
        self.max_keys = max_keys
        self.free = free
        # key -> (failures in the window, time of the last failure)
        self._failures: dict[str, tuple[int, float]] = {}

    def _count(self, key: str, now: float) -> int:
        entry = self._failures.get(key)
        if entry is None or now - entry[1] > self.window:
            return 0
        return entry[0]

    def _locked_until(self, key: str) -> float:
        entry = self._failures.get(key)
        if entry is None or entry[0] <= self.free:
            return 0.0
        return entry[1] + min(self.maximum, self.base * (2 ** (entry[0] - self.free - 1)))

    def is_locked(self, ip: str, account: str | None) -> bool:
        """True when the next attempt from `ip` / for `account` must be refused unchecked."""
        now = time.monotonic()
        return any(self._locked_until(key) > now for key in _keys(ip, account))

    def record_failure(self, ip: str, account: str | None) -> None:
        now = time.monotonic()
        if len(self._failures) > self.max_keys:  # bound memory under a spray of addresses
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] <= self.window}
        for key in _keys(ip, account):
            self._failures[key] = (self._count(key, now) + 1, now)

    def record_success(self, account: str) -> None:
        self._failures.pop(f"acct:{account}", None)


def _keys(ip: str, account: str | None) -> tuple[str, ...]:
    return (f"ip:{ip}", f"acct:{account}") if account else (f"ip:{ip}",)


@lru_cache(maxsize=1)
def fake_scram_secret() -> bytes:
    """The key of the fake SCRAM salts of unknown users (RFC 5802 §5.1 "no enumeration"):
    derived from Django's SECRET_KEY, kept in the data dir, so stable across restarts."""
    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode("utf-8"), b"xmppsite sasl fake salt",
                    hashlib.sha256).digest()
