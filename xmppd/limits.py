"""Per-address accounting: unauthenticated connections per IP (issue 8, "Per-address limits").

One counter per server, shared by every transport (TCP, WebSocket, BOSH): a c2s driver takes
a slot when it starts and gives it back when it binds a resource or goes away, so one address
cannot hold every slot for the length of the login timeout (RFC 6120 §4.9.3.18).
"""

from __future__ import annotations


class AddressCounter:
    """How many slots each address holds, bounded by `limit` (0: no limit).

    Entries are removed when their count falls to zero: the table never outgrows the
    addresses that hold a slot right now (connection churn leaves nothing behind)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def acquire(self, address: str) -> bool:
        """Take a slot for `address`; False (and nothing taken) when it already holds `limit`."""
        count = self._counts.get(address, 0)
        if self.limit and count >= self.limit:
            return False
        self._counts[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self._counts.get(address, 0) - 1
        if count > 0:
            self._counts[address] = count
        else:
            self._counts.pop(address, None)

    def held(self, address: str) -> int:
        return self._counts.get(address, 0)

    def __len__(self) -> int:
        return len(self._counts)


class StreamGauge:
    """Open client streams of this process, TCP and WebSocket together, against
    XMPP_MAX_CONNECTIONS (0: no limit); BOSH sessions are bounded by their own table."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def is_full(self) -> bool:
        return bool(self.limit) and self.count >= self.limit
