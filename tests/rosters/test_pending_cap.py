"""Issue 8: unanswered inbound subscription requests are capped per account
(XMPP_MAX_PENDING_SUBSCRIPTIONS) and count against XMPP_MAX_ROSTER_ITEMS; a refused request
gets a presence error back (RFC 6120 §8.3.3.18 resource-constraint, §8.3.3.12 policy-violation)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from rosters.models import RosterItem
from tests.rosters.helpers import Raw, error_condition, q
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


def _pending_of(username: str) -> list[str]:
    return sorted(RosterItem.objects.filter(username=username).exclude(pending_in="")
                  .values_list("jid", flat=True))


async def _ask(srv: Any, stranger: str, victim: str = "vic") -> Raw:
    await srv.add_user(stranger)
    raw = await Raw.login(srv, stranger)
    raw.send(f"<presence to='{victim}@localhost' type='subscribe'/>")
    return raw


async def _error_to(raw: Raw) -> Any:
    return await raw.stanza(lambda el: el.tag == q("presence") and el.get("type") == "error")


async def test_requests_past_the_cap_are_refused_to_the_sender(xmpp: Any) -> None:
    await xmpp.add_user("vic")
    victim = await Raw.login(xmpp, "vic")
    victim.send("<presence/>")
    with override_settings(XMPP_MAX_PENDING_SUBSCRIPTIONS=2):
        for name in ("s1", "s2"):
            raw = await _ask(xmpp, name)
            await victim.stanza(lambda el, n=name: el.get("type") == "subscribe"
                                and el.get("from") == f"{n}@localhost")
            await raw.no_stanza(lambda el: el.get("type") == "error")
        third = await _ask(xmpp, "s3")
        refused = await _error_to(third)
        assert error_condition(refused) == "resource-constraint"
        assert refused.find(q("error")).get("type") == "wait"
        assert refused.get("from") == "vic@localhost"
        await victim.no_stanza(lambda el: el.get("from") == "s3@localhost")
        assert await db(_pending_of, "vic") == ["s1@localhost", "s2@localhost"]


async def test_a_repeated_request_is_not_refused_at_the_cap(xmpp: Any) -> None:
    await xmpp.add_user("vic")
    with override_settings(XMPP_MAX_PENDING_SUBSCRIPTIONS=1):
        first = await _ask(xmpp, "s1")
        await first.no_stanza(lambda el: el.get("type") == "error")
        first.send("<presence to='vic@localhost' type='subscribe'/>")
        await first.no_stanza(lambda el: el.get("type") == "error")
        assert await db(_pending_of, "vic") == ["s1@localhost"]


async def test_pending_requests_count_against_the_roster_cap(make_server: Any) -> None:
    srv = await make_server(max_roster_items=1)
    await srv.add_user("vic")
    first = await _ask(srv, "s1")
    await first.no_stanza(lambda el: el.get("type") == "error")
    second = await _ask(srv, "s2")
    refused = await _error_to(second)
    assert error_condition(refused) == "policy-violation"
    assert await db(_pending_of, "vic") == ["s1@localhost"]
