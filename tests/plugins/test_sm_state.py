"""XEP-0198 engine (plugins/sm_state.py) without sockets: counters, the 2^32 wrap, the
unacknowledged queue, when the server asks for acks, expired ids."""

from __future__ import annotations

import pytest

from plugins.sm_state import MOD, ExpiredIds, HandledCountTooHigh, Policy, SMState
from tests.support.waiting import wait_for
from xmppcore.jid import JID
from xmppd.sessions import Session


def make(policy: Policy = Policy(), *, attached: bool = True) -> tuple[SMState, Session, list[bytes], list[int]]:
    written: list[bytes] = []
    requests: list[int] = []
    session = Session(JID.parse("alice@localhost/phone"), lambda d: written.append(d) or True, lambda c: None)
    state = SMState(session, policy, lambda: requests.append(len(state.unacked)), resumable=True, max_=60)
    session.add_outbound(state.take)
    if not attached:
        session.detach()
    return state, session, written, requests


async def test_h_counts_received_stanzas_from_enable_and_wraps() -> None:
    state, session, _, _ = make()
    session.received += 3
    assert state.h_in == 3
    state.base_in = session.received - (MOD - 1)  # as if 2^32 - 1 stanzas came since <enable/>
    assert state.h_in == MOD - 1
    session.received += 1
    assert state.h_in == 0  # §4: back to zero, never 2^32


async def test_stanzas_stay_queued_until_acked_in_order() -> None:
    state, session, written, _ = make()
    for i in range(3):
        assert session.send_bytes(f"<message><body>{i}</body></message>".encode())
    assert written == list(state.unacked) and len(written) == 3
    assert state.ack(2) == 2
    assert list(state.unacked) == [b"<message><body>2</body></message>"] and state.sent == 3
    assert state.ack(2) == 0  # the same ack again: nothing more
    with pytest.raises(HandledCountTooHigh) as err:
        state.ack(4)
    assert (err.value.h, err.value.send_count) == (4, 3)


async def test_acks_wrap_at_2_to_the_32() -> None:
    state, session, _, _ = make()
    state.acked = MOD - 2
    for _ in range(3):
        session.send_bytes(b"<message/>")
    assert state.sent == 1  # (2^32 - 2 + 3) mod 2^32
    assert state.ack(0) == 2 and len(state.unacked) == 1
    assert state.ack(1) == 1 and not state.unacked


async def test_detached_session_queues_without_writing() -> None:
    state, session, written, requests = make(attached=False)
    assert session.send_bytes(b"<message/>")  # taken: the caller must not deliver it elsewhere
    assert written == [] and list(state.unacked) == [b"<message/>"] and requests == []


async def test_the_server_asks_every_n_stanzas_and_when_idle() -> None:
    state, session, _, requests = make(Policy(request_every=3, request_delay=0.05))
    for _ in range(3):
        session.send_bytes(b"<message/>")
    assert requests == [3] and state.timer is None
    session.send_bytes(b"<message/>")
    assert requests == [3] and state.timer is not None
    await wait_for(lambda: len(requests) == 2, 2, what="the idle <r/>")
    assert requests == [3, 4]


async def test_a_detached_session_over_the_limit_asks_the_module_to_end_it() -> None:
    state, session, _, requests = make(Policy(max_unacked=2), attached=False)
    for _ in range(3):
        session.send_bytes(b"<message/>")
    assert state.is_over_limit() and requests == [3]


def test_expired_ids_remember_h_per_owner_and_stay_bounded() -> None:
    expired = ExpiredIds(size=2)
    alice, bob = JID.parse("alice@localhost"), JID.parse("bob@localhost")
    expired.add("one", alice, 5)
    assert expired.h_for("one", alice) == 5 and expired.h_for("one", bob) is None
    expired.add("two", alice, 6)
    expired.add("three", alice, 7)
    assert expired.h_for("one", alice) is None and expired.h_for("three", alice) == 7



async def test_the_limit_counts_bytes_too_and_acks_give_them_back() -> None:
    state, session, _, _ = make(Policy(max_unacked_bytes=25, request_every=100))
    session.send_bytes(b"x" * 20)
    assert state.unacked_bytes == 20 and not state.is_over_limit()
    session.send_bytes(b"y" * 10)
    assert state.is_over_limit()
    state.ack(1)
    assert state.unacked_bytes == 10 and not state.is_over_limit()
