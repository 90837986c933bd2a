"""Issue 8: output queued for a BOSH client that does not come back is capped like TCP's
(RFC 6120 §13.12): the session ends with 'policy-violation' (XEP-0124 §17.2)."""

from __future__ import annotations

from lxml import etree

from tests.xmppcore.test_bosh import MSG, answered, created, req
from xmppcore.bosh.wire import Limits


def test_output_for_an_absent_client_is_capped() -> None:
    session = created(Limits(max_outbox=len(MSG) * 10))
    accepted = [session.push(MSG) for _ in range(12)]
    assert accepted == [True] * 10 + [False] * 2
    assert session.outbox == []  # freed at once
    reply = session.receive(req(rid=101, sid="SID"), 1.0).reply
    body = etree.fromstring(reply.body)
    assert body.get("type") == "terminate" and body.get("condition") == "policy-violation"
    assert session.push(MSG) is False  # ended: the sender stores or bounces


def test_output_taken_by_the_client_frees_the_count() -> None:
    session = created(Limits(max_outbox=len(MSG) * 10))
    for rid in range(101, 104):
        assert all(session.push(MSG) for _ in range(8))
        session.receive(req(rid=rid, sid="SID"), 1.0)
        (body,) = answered(session, 1.0).values()
        assert len(body) == 8 and body.get("type") is None
