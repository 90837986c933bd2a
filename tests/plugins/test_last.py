"""XEP-0012: Last Activity on the wire — server uptime, users' last logout, who may ask."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.clients import connect
from tests.plugins.wire import error_condition, eventually, iq_get, q
from xmppcore.jid import JID
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

LAST = "jabber:iq:last"
QUERY = f"<query xmlns='{LAST}'/>"


def subscriptions(states: dict[tuple[str, str], str]):
    """A stand-in for the rosters module: (owner, contact) -> subscription state."""
    def subscription(owner, contact):
        return states.get((str(owner), str(contact)), "none")
    return subscription


def set_last_logout(username: str, seconds_ago: float | None, status: str = "") -> None:
    from accounts.models import Account

    when = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    Account.objects.filter(username=username).update(last_logout_at=when, last_status=status)


def seconds_of(reply) -> tuple[int, str | None]:
    assert reply.get("type") == "result", reply
    query = reply.find(q(LAST, "query"))
    return int(query.get("seconds")), query.text


async def test_uptime_of_the_server(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    xmpp.server.started_at = time.time() - 1000
    reply = await iq_get(alice, "localhost", QUERY)
    assert reply.get("from") == "localhost"
    seconds, text = seconds_of(reply)
    assert 1000 <= seconds < 1010
    assert text is None  # §5: no character data


async def test_slixmpp_reads_the_uptime(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    alice.register_plugin("xep_0012")
    xmpp.server.started_at = time.time() - 60
    result = await alice["xep_0012"].get_last_activity("localhost", timeout=5)
    assert 60 <= result["last_activity"]["seconds"] < 70


async def test_own_bare_jid_while_connected_is_zero(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await db(set_last_logout, "alice", 500, "earlier")
    reply = await iq_get(alice, "alice@localhost", QUERY)
    assert reply.get("from") == "alice@localhost"
    assert seconds_of(reply) == (0, None)  # §3: an empty <query/>, seconds='0'


async def test_without_a_subscription_it_is_forbidden(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    await db(set_last_logout, "bob", 903, "Heading Home")
    reply = await iq_get(alice, "bob@localhost", QUERY)
    assert error_condition(reply) == ("auth", "forbidden")
    # Alice subscribed to Bob ('to' in Bob's roster) is not Bob letting her see him.
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): "to"}), 100)
    reply = await iq_get(alice, "bob@localhost", QUERY)
    assert error_condition(reply) == ("auth", "forbidden")


@pytest.mark.parametrize("state", ["from", "both"])
async def test_a_contact_sees_seconds_since_logout_and_status(xmpp, state) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    await db(set_last_logout, "bob", 903, "Heading Home")
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): state}), 100)
    reply = await iq_get(alice, "bob@localhost", QUERY)
    assert reply.get("from") == "bob@localhost"
    seconds, text = seconds_of(reply)
    assert 903 <= seconds <= 906
    assert text == "Heading Home"


async def test_a_contact_sees_zero_while_the_user_is_connected(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await connect(xmpp, await xmpp.add_user("bob"))
    await db(set_last_logout, "bob", 903, "Heading Home")
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): "both"}), 100)
    reply = await iq_get(alice, "bob@localhost", QUERY)
    assert seconds_of(reply) == (0, None)


async def test_the_logout_recorded_at_disconnect_is_reported(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): "both"}), 100)
    bob.disconnect()

    def logged_out() -> bool:
        from accounts.models import Account
        return Account.objects.filter(username="bob", last_logout_at__isnull=False).exists()

    await eventually(lambda: db(logged_out), timeout=5)
    seconds, _ = seconds_of(await iq_get(alice, "bob@localhost", QUERY))
    assert 0 <= seconds <= 3


async def test_an_account_that_never_logged_out_has_no_last_activity(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): "both"}), 100)
    reply = await iq_get(alice, "bob@localhost", QUERY)
    assert error_condition(reply) == ("cancel", "item-not-found")


async def test_an_unknown_user_looks_like_one_you_may_not_see(xmpp) -> None:
    """§8 before existence: the same <forbidden/> for a missing account as for a hidden one,
    so the query does not tell which accounts exist."""
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    hidden = await iq_get(alice, "bob@localhost", QUERY)
    missing = await iq_get(alice, "ghost@localhost", QUERY)
    assert error_condition(missing) == error_condition(hidden) == ("auth", "forbidden")


async def test_a_full_jid_query_is_stopped_without_a_subscription(xmpp) -> None:
    """§4: the server MUST NOT deliver it to the resource, and answers forbidden."""
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"), resource="desk")
    seen = []
    bob.add_filter("in", lambda stanza: seen.append(stanza) or stanza)
    reply = await iq_get(alice, "bob@localhost/desk", QUERY)
    assert error_condition(reply) == ("auth", "forbidden")
    assert not [s for s in seen if s.xml.find(q(LAST, "query")) is not None]


async def test_a_full_jid_query_reaches_the_resource_for_a_contact_or_oneself(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"), resource="desk")
    other_bob = await connect(xmpp, "bob@localhost", resource="phone")
    bob.register_plugin("xep_0012")
    bob["xep_0012"].set_last_activity(seconds=123)
    xmpp.server.hooks.add("roster/subscription",
                          subscriptions({("bob@localhost", "alice@localhost"): "from"}), 100)
    for asker in (alice, other_bob):
        reply = await iq_get(asker, "bob@localhost/desk", QUERY)
        assert reply.get("from") == "bob@localhost/desk"  # answered by Bob's client
        assert seconds_of(reply)[0] >= 123


async def test_with_a_real_presence_subscription(xmpp) -> None:
    """Through the rosters module: Bob approves Alice's subscription, so Alice may ask, not Bob."""
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    bob.auto_subscribe = False  # slixmpp's Bob approves on his own, without asking back
    await alice.get_roster()
    alice.send_presence_subscription(pto="bob@localhost")

    async def bob_lets_alice_see() -> bool:
        state = await xmpp.server.hooks.fire("roster/subscription", JID.parse("bob@localhost"),
                                             JID.parse("alice@localhost"))
        return state == "from"

    await eventually(bob_lets_alice_see, timeout=5)
    assert seconds_of(await iq_get(alice, "bob@localhost", QUERY)) == (0, None)
    reply = await iq_get(bob, "alice@localhost", QUERY)
    assert error_condition(reply) == ("auth", "forbidden")  # Alice's roster: Bob is only 'to'
    bob.send_presence(ptype="unavailable", pstatus="Gone fishing")
    bob.disconnect()
    await eventually(lambda: not xmpp.server.sessions.resources(JID.parse("bob@localhost")), timeout=5)

    async def logout_recorded():
        reply = await iq_get(alice, "bob@localhost", QUERY)
        return reply if reply.get("type") == "result" else None

    seconds, text = seconds_of(await eventually(logout_recorded, timeout=5))
    assert 0 <= seconds <= 3 and text == "Gone fishing"
