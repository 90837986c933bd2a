"""XEP-0045 service limits: rooms a user may own when creating one (XMPP_MUC_MAX_ROOMS_PER_USER,
<not-allowed/>) and an occupant's message rate (XMPP_MUC_MESSAGE_RATE, <resource-constraint/>
type wait) — the token bucket alone, then both on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from muc.engine.limits import TokenBucket, parse_rate
from tests.muc.helpers import (CLIENT, MUC, STANZAS, error_condition, groupchat, instant_room, join, q, send_join,
                               take, user)

SERVICE = "conference.localhost"


def test_token_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket.full(2.0, 3.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.4) is False  # 0.8 token
    assert bucket.take(100.5) is True   # 1.0 token
    assert bucket.take(200.0) and bucket.tokens == 2.0  # never more than the burst
    assert bucket.take(150.0) is True  # a clock going back gives nothing


def test_parse_rate() -> None:
    assert parse_rate("10/20") == (10.0, 20.0)
    assert parse_rate("5") == (5.0, 5.0)
    assert parse_rate("") is None and parse_rate("0") is None and parse_rate("0/5") is None
    with pytest.raises(ValueError):
        parse_rate("10/0")
    with pytest.raises(ValueError):
        parse_rate("fast")


async def test_a_user_owns_at_most_so_many_rooms(make_server: Any, settings: Any) -> None:
    settings.XMPP_MUC_MAX_ROOMS_PER_USER = 2
    srv = await make_server()
    alice = await user(srv, "alice")
    for name in ("one", "two"):
        await instant_room(alice, f"{name}@{SERVICE}", "Alice")
    send_join(alice, f"three@{SERVICE}", "Alice")
    refused = await take(alice.presences, lambda p: p.get("from") == f"three@{SERVICE}/Alice")
    assert refused.get("type") == "error"
    assert refused.find(q(MUC, "x")) is not None
    assert error_condition(refused) == "not-allowed"
    assert refused.find(q(CLIENT, "error")).get("type") == "cancel"
    bob = await user(srv, "bob")
    await join(bob, f"one@{SERVICE}", "Bob")  # joining an existing room is not creating one
    await instant_room(bob, f"three@{SERVICE}", "Bob")  # bob's first room; it did not exist


async def test_an_occupant_sending_too_fast_is_bounced_with_resource_constraint(make_server: Any,
                                                                                 settings: Any) -> None:
    settings.XMPP_MUC_MESSAGE_RATE = "0.01/3"  # a burst of 3, then one message every 100 s
    srv = await make_server()
    room = f"busy@{SERVICE}"
    alice = await user(srv, "alice")
    await instant_room(alice, room, "Alice")
    for n in range(5):
        await groupchat(alice, room, f"m{n}")
    answers = [await take(alice.messages, lambda m: m.get("type") == "error" or m.find(q(CLIENT, "body")) is not None)
               for _ in range(5)]
    relayed = [m.findtext(q(CLIENT, "body")) for m in answers if m.get("type") == "groupchat"]
    bounced = [m for m in answers if m.get("type") == "error"]
    assert relayed == ["m0", "m1", "m2"]
    assert len(bounced) == 2
    for m in bounced:
        assert m.get("from") == room
        error = m.find(q(CLIENT, "error"))
        assert error.get("type") == "wait"
        assert error.find(q(STANZAS, "resource-constraint")) is not None
