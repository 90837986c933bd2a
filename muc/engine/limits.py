"""XEP-0045 service limits (§17.1 leaves them to the implementation; Prosody's muc_limits and
its room-creation restriction are the models): a token bucket per occupant for the messages it
sends to the room, and the number of rooms one user may own. Pure: no clock of its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`rate` tokens a second, at most `burst` kept; one message costs one token. O(1)."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> "TokenBucket":
        return cls(rate, burst, burst, now)

    def take(self, now: float) -> bool:
        """Spend a token if there is one (refilled for the time since the last call)."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def parse_rate(text: str) -> tuple[float, float] | None:
    """"10/20": 10 messages a second, bursts of 20; "10": burst = rate; "" or "0": no limit."""
    text = (text or "").strip()
    if not text:
        return None
    rate_text, _, burst_text = text.partition("/")
    rate = float(rate_text)
    burst = float(burst_text) if burst_text else rate
    if rate <= 0:
        return None
    if burst < 1:
        raise ValueError(f"a message rate's burst must be at least 1: {text!r}")
    return rate, burst
