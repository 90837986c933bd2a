"""Issue 8, authentication: the SASL failure throttle (RFC 6120 §6.5.12, §13.8), no user
enumeration (RFC 5802 §5.1 fake parameters), PBKDF2 off the database thread, and the end of
an account's sessions when its credentials are revoked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading

import pytest

from tests.clients import RawClient, header, open_stream, raw_plain_login, stream_error_condition
from xmppd.authlimit import AuthThrottle
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
REGISTER = "jabber:iq:register"




async def _plain(raw: RawClient, user: str, password: str) -> bytes:
    """One PLAIN attempt; the server's answer (<success/> or the <failure/>)."""
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
    data = await raw.read_until(rb"</failure>|<success.*?(/>|</success>)")
    raw.take()
    return data


def _slow_lock(srv) -> AuthThrottle:
    """A throttle whose lock outlasts the test: no race with the clock on a busy machine."""
    srv.server.auth_throttle = AuthThrottle(base=60.0, maximum=60.0, free=2)
    return srv.server.auth_throttle


async def test_excess_attempts_get_temporary_auth_failure_at_once(make_server) -> None:
    srv = await make_server(allow_registration=True)
    _slow_lock(srv)
    await srv.add_user("alice", "right")
    raw = await open_stream(srv)
    for _ in range(3):
        assert b"<not-authorized/>" in await _plain(raw, "alice", "wrong")
    # Locked: even the right password is refused unchecked, and the connection is still read.
    answer = await _plain(raw, "alice", "right")
    assert b"<temporary-auth-failure/>" in answer and b"<success" not in answer
    raw.send(f"<iq type='get' id='reg'><query xmlns='{REGISTER}'/></iq>")  # XEP-0077 §3.1, pre-auth
    assert b"type=\"result\"" in await raw.read_until(rb"</iq>")


async def test_the_account_key_is_the_normalized_jid(make_server) -> None:
    srv = await make_server()
    throttle = _slow_lock(srv)
    await srv.add_user("alice", "right")
    raw = await open_stream(srv)
    for _ in range(3):
        assert b"<not-authorized/>" in await _plain(raw, "ALICE", "wrong")
    throttle._failures.pop("ip:127.0.0.1")  # another address: only the account's count is left
    other = await open_stream(srv)
    assert b"<temporary-auth-failure/>" in await _plain(other, "alice", "right")


async def test_another_accounts_success_does_not_reset_the_address(make_server) -> None:
    srv = await make_server()
    _slow_lock(srv)
    await srv.add_user("alice", "right")
    await srv.add_user("mallory", "mine")
    raw = await open_stream(srv)
    for _ in range(2):
        assert b"<not-authorized/>" in await _plain(raw, "alice", "wrong")
    mallory = await open_stream(srv)
    assert b"<success" in await _plain(mallory, "mallory", "mine")
    assert b"<not-authorized/>" in await _plain(raw, "alice", "wrong")  # the third: now locked
    assert b"<temporary-auth-failure/>" in await _plain(raw, "alice", "guess")


async def test_plain_derives_keys_off_the_database_thread(make_server, monkeypatch) -> None:
    from accounts import actions

    srv = await make_server()
    await srv.add_user("alice", "right")
    threads: list[str] = []
    real = actions.check_password

    def recording(*args):
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(actions, "check_password", recording)
    raw = await open_stream(srv)
    assert b"<success" in await _plain(raw, "alice", "right")
    assert threads and all(name.startswith("pbkdf2") for name in threads), threads


async def _server_first(srv, user: str) -> tuple[bytes, int]:
    raw = await open_stream(srv)
    first = base64.b64encode(f"n,,n={user},r=abcdefghijklmnop".encode()).decode()
    raw.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-1'>{first}</auth>")
    data = await raw.read_until(rb"</challenge>")
    challenge = base64.b64decode(re.search(rb"<challenge[^>]*>([^<]+)</challenge>", data).group(1))
    fields = dict(part.split(b"=", 1) for part in challenge.split(b","))
    raw.close()
    return base64.b64decode(fields[b"s"]), int(fields[b"i"])


async def test_unknown_users_get_configured_iterations_and_a_persistent_salt(make_server) -> None:
    from django.conf import settings

    srv = await make_server(scram_iterations=4321)
    salt, iterations = await _server_first(srv, "ghost")
    assert iterations == 4321
    # Derived from SECRET_KEY (kept in the data dir) and the name: the same after a restart.
    secret = hmac.new(settings.SECRET_KEY.encode(), b"xmppsite sasl fake salt", hashlib.sha256).digest()
    expected = hmac.new(secret, b"SHA-1\x00ghost", hashlib.sha256).digest()[:len(salt)]
    assert salt == expected
    assert await _server_first(srv, "ghost") == (salt, iterations)


async def _bound(srv, user: str, password: str, resource: str) -> RawClient:
    raw = await RawClient.open(srv.host, srv.port)
    await raw_plain_login(raw, user, password, resource)
    return raw


@pytest.mark.parametrize("change", ["password", "disable", "delete"])
async def test_revoking_credentials_ends_live_sessions(make_server, change) -> None:
    from accounts import actions

    srv = await make_server()
    await srv.add_user("alice", "right")
    raw = await _bound(srv, "alice", "right", "r1")
    if change == "password":
        await db(actions.do_set_password, "alice", "localhost", "new")
    elif change == "disable":
        await db(actions.do_set_active, "alice", "localhost", False)
    else:
        await db(actions.do_delete_account, "alice", "localhost")
    assert stream_error_condition(await raw.read_until(rb"</stream:stream>")) == "not-authorized"


async def test_in_band_password_change_ends_the_other_sessions_only(make_server) -> None:
    srv = await make_server()
    await srv.add_user("alice", "right")
    changer = await _bound(srv, "alice", "right", "r1")
    other = await _bound(srv, "alice", "right", "r2")
    changer.send(f"<iq type='set' id='pw'><query xmlns='{REGISTER}'><username>alice</username>"
                 "<password>new</password></query></iq>")
    assert b"type=\"result\"" in await changer.read_until(rb"<iq[^>]*id=\"pw\"[^>]*(/>|>.*?</iq>)")
    assert stream_error_condition(await other.read_until(rb"</stream:stream>")) == "not-authorized"
    changer.take()
    changer.send("<iq type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert b"id=\"p2\"" in await changer.read_until(rb"id=\"p2\"")
