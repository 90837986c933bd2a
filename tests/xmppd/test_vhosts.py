"""Virtual hosts: one server, several domains (RFC 6120 §4.7.2 — the header's `to` picks the domain).

The `make_server` fixture serves localhost and example.org.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.clients import RawClient, connect, header, parse_fragment, stream_error_condition
from tests.conftest import DOMAIN, OTHER_DOMAIN, RunningServer
from tests.support.quiet import settle

pytestmark = pytest.mark.django_db(transaction=True)


async def raw_auth(srv: RunningServer, to: str, username: str, password: str) -> tuple[bytes, bytes]:
    """Open a stream to `to`, try SASL PLAIN; return (stream header + features, SASL outcome)."""
    raw = await RawClient.open(srv.host, srv.port)
    try:
        raw.send(header(to=to))
        opened = await raw.read_until(rb"</stream:features>")
        raw.take()
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        outcome = await raw.read_until(rb"<success[^>]*/>|<success[^>]*>.*</success>|</failure>")
    finally:
        raw.close()
    return opened, outcome


def response_header_from(opened: bytes) -> str | None:
    m = re.search(rb"<stream:stream[^>]*\sfrom=['\"]([^'\"]+)['\"]", opened)
    return m.group(1).decode() if m else None


async def test_users_of_both_domains_log_in(xmpp: RunningServer) -> None:
    a = await connect(xmpp, await xmpp.add_user("alice", domain=DOMAIN), resource="r1")
    b = await connect(xmpp, await xmpp.add_user("bob", domain=OTHER_DOMAIN), resource="r2")
    assert str(a.boundjid) == "alice@localhost/r1"
    assert str(b.boundjid) == "bob@example.org/r2"


async def test_stream_header_to_picks_the_domain(xmpp: RunningServer) -> None:
    await xmpp.add_user("carol", "pw", domain=OTHER_DOMAIN)
    opened, outcome = await raw_auth(xmpp, OTHER_DOMAIN, "carol", "pw")
    # RFC 6120 §4.7.1: the response header's `from` is the domain the client asked for.
    assert response_header_from(opened) == OTHER_DOMAIN
    assert b"<success" in outcome
    opened, outcome = await raw_auth(xmpp, DOMAIN, "carol", "pw")
    assert response_header_from(opened) == DOMAIN
    assert b"<not-authorized/>" in outcome  # carol exists on example.org only


async def test_domain_in_header_is_case_insensitive(xmpp: RunningServer) -> None:
    await xmpp.add_user("carol", "pw", domain=OTHER_DOMAIN)
    opened, outcome = await raw_auth(xmpp, "Example.ORG", "carol", "pw")
    assert response_header_from(opened) == OTHER_DOMAIN  # RFC 7622 §3.2: domainparts compare case-folded
    assert b"<success" in outcome


async def test_message_crosses_from_one_domain_to_the_other(xmpp: RunningServer) -> None:
    a = await connect(xmpp, await xmpp.add_user("alice", domain=DOMAIN), resource="phone")
    b = await connect(xmpp, await xmpp.add_user("bob", domain=OTHER_DOMAIN), resource="pc")
    await settle(a, b)  # both initial presences processed
    a.send_message(mto="bob@example.org", mbody="hello across", mtype="chat")
    msg = await b.next_message()
    assert msg["body"] == "hello across"
    assert msg.xml.get("from") == "alice@localhost/phone"
    assert msg.xml.get("to") == "bob@example.org"
    b.send_message(mto="alice@localhost/phone", mbody="hello back", mtype="chat")
    reply = await a.next_message()
    assert reply["body"] == "hello back"
    assert reply.xml.get("from") == "bob@example.org/pc"


async def test_unknown_domain_is_host_unknown(xmpp: RunningServer) -> None:
    raw = await RawClient.open(xmpp.host, xmpp.port)
    try:
        raw.send(header(to="unknown.example"))
        data = await raw.read_to_eof()
    finally:
        raw.close()
    # RFC 6120 §4.9.1.2 / §4.9.3.6: header first, then the error, then the stream is closed.
    assert data.index(b"<stream:stream") < data.index(b"<stream:error")
    assert stream_error_condition(data) == "host-unknown"
    assert data.rstrip().endswith(b"</stream:stream>")
    assert b"<stream:features" not in data


async def test_subdomain_of_a_hosted_domain_is_host_unknown(xmpp: RunningServer) -> None:
    raw = await RawClient.open(xmpp.host, xmpp.port)
    try:
        raw.send(header(to="chat.example.org"))
        data = await raw.read_to_eof()
    finally:
        raw.close()
    assert stream_error_condition(data) == "host-unknown"


async def test_same_username_on_two_domains_is_two_accounts(xmpp: RunningServer) -> None:
    await xmpp.add_user("alice", "local-pw", domain=DOMAIN)
    await xmpp.add_user("alice", "org-pw", domain=OTHER_DOMAIN)
    # Each password opens its own domain's account and not the other's.
    assert b"<success" in (await raw_auth(xmpp, DOMAIN, "alice", "local-pw"))[1]
    assert b"<not-authorized/>" in (await raw_auth(xmpp, DOMAIN, "alice", "org-pw"))[1]
    assert b"<success" in (await raw_auth(xmpp, OTHER_DOMAIN, "alice", "org-pw"))[1]
    assert b"<not-authorized/>" in (await raw_auth(xmpp, OTHER_DOMAIN, "alice", "local-pw"))[1]


async def test_same_username_on_two_domains_gets_its_own_messages(xmpp: RunningServer) -> None:
    await xmpp.add_user("alice", "local-pw", domain=DOMAIN)
    await xmpp.add_user("alice", "org-pw", domain=OTHER_DOMAIN)
    local = await connect(xmpp, "alice@localhost", "local-pw", resource="same")
    org = await connect(xmpp, "alice@example.org", "org-pw", resource="same")
    bob = await connect(xmpp, await xmpp.add_user("bob"))
    await settle(local, org, bob)  # every initial presence processed
    assert str(local.boundjid) == "alice@localhost/same" and str(org.boundjid) == "alice@example.org/same"
    bob.send_message(mto="alice@example.org", mbody="for org", mtype="chat")
    bob.send_message(mto="alice@localhost", mbody="for local", mtype="chat")
    assert (await org.next_message())["body"] == "for org"
    assert (await local.next_message())["body"] == "for local"
    # Neither got the other's message (a same-named resource on each did not conflict either).
    await settle(bob, org, local)  # all bob sent is routed, all they were sent is in
    assert org.received.empty() and local.received.empty()


async def test_account_table_keeps_both(xmpp: RunningServer) -> None:
    from accounts.actions import list_accounts
    from xmppd.storage import db

    await xmpp.add_user("alice", "local-pw", domain=DOMAIN)
    await xmpp.add_user("alice", "org-pw", domain=OTHER_DOMAIN)
    assert [a.jid for a in await db(list_accounts, OTHER_DOMAIN)] == ["alice@example.org"]
    assert sorted(a.jid for a in await db(list_accounts)) == ["alice@example.org", "alice@localhost"]
