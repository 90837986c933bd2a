"""XMPP_RATE_LIMIT_BYTES for transports that cannot stop reading a socket (RFC 6120 §13.12).

TCP throttles by pausing its reads (xmppd/transports/tcp.py). An ASGI application cannot:
the HTTP server keeps reading. `Bucket` is the same token bucket in bytes: a burst is waited
out (the caller holds its input meanwhile, so the client's next frame or request waits
too), and a peer that stays over the rate for more than FLOOD_SECONDS' worth of bytes
without a pause is flooding: the caller ends the stream or session with policy-violation.
"""

from __future__ import annotations

import asyncio
import time


class Bucket:
    """Per connection (WebSocket) or per session (BOSH); `rate` 0 means no limit."""

    FLOOD_SECONDS = 2
    __slots__ = ("rate", "tokens", "last", "owed")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.tokens = float(rate)
        self.last = time.monotonic()
        self.owed = 0  # bytes taken while over the rate, since the peer last paused

    async def take(self, n: int) -> bool:
        """Account `n` bytes, waiting while over the rate; False: a flood, give up."""
        if not self.rate:
            return True
        now = time.monotonic()
        self.tokens = min(float(self.rate), self.tokens + (now - self.last) * self.rate) - n
        self.last = now
        if self.tokens >= 0:
            self.owed = 0
            return True
        self.owed += n
        if self.owed > self.FLOOD_SECONDS * self.rate:
            return False
        await asyncio.sleep(-self.tokens / self.rate)
        return True
