"""accounts.actions on the real database: the only writers, and the readers the server uses."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import actions
from accounts.models import Account
from accounts.signals import account_created, account_deleted

pytestmark = pytest.mark.django_db

DOMAIN = "localhost"


@pytest.fixture(autouse=True)
def _fast_scram(settings) -> None:
    settings.XMPP_SCRAM_ITERATIONS = 4096
    settings.XMPP_DOMAINS = [DOMAIN, "example.org"]


def _rfc5802_keys(password: str, salt: bytes, iterations: int, digest: str) -> tuple[bytes, bytes]:
    """RFC 5802 §3, computed independently of xmppcore.sasl."""
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = hashlib.new(digest, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    return stored_key, server_key


class TestCreate:
    def test_creates_both_credentials_and_no_plaintext(self) -> None:
        account = actions.do_create_account("alice", DOMAIN, "wonderland")
        row = Account.objects.get(pk=account.pk)
        assert (row.username, row.domain, row.is_active) == ("alice", DOMAIN, True)
        for prefix, digest, size in (("sha1", "sha1", 20), ("sha256", "sha256", 32)):
            salt = bytes(getattr(row, f"{prefix}_salt"))
            iterations = getattr(row, f"{prefix}_iterations")
            assert len(salt) >= 16 and iterations == 4096
            stored, server = _rfc5802_keys("wonderland", salt, iterations, digest)
            assert bytes(getattr(row, f"{prefix}_stored_key")) == stored
            assert bytes(getattr(row, f"{prefix}_server_key")) == server
            assert len(stored) == size
        assert bytes(row.sha1_salt) != bytes(row.sha256_salt)
        for field in Account._meta.concrete_fields:
            value = getattr(row, field.attname)
            if isinstance(value, (bytes, memoryview, str)):
                assert b"wonderland" not in (value.encode() if isinstance(value, str) else bytes(value))

    def test_salts_differ_between_accounts(self) -> None:
        a = actions.do_create_account("a", DOMAIN, "same")
        b = actions.do_create_account("b", DOMAIN, "same")
        assert bytes(a.sha256_salt) != bytes(b.sha256_salt)
        assert bytes(a.sha256_stored_key) != bytes(b.sha256_stored_key)

    def test_iterations_come_from_settings(self, settings) -> None:
        settings.XMPP_SCRAM_ITERATIONS = 5000
        account = actions.do_create_account("iter", DOMAIN, "pw")
        assert account.sha1_iterations == account.sha256_iterations == 5000

    def test_accepts_a_bare_jid(self) -> None:
        account = actions.do_create_account("bob@example.org", None, "pw")
        assert (account.username, account.domain) == ("bob", "example.org")
        account = actions.do_create_account("carol@localhost", DOMAIN, "pw")
        assert account.jid == "carol@localhost"

    def test_username_is_normalized(self) -> None:
        account = actions.do_create_account("Juliet", "LocalHost", "pw")
        assert (account.username, account.domain) == ("juliet", "localhost")
        with pytest.raises(actions.AccountExists):
            actions.do_create_account("JULIET", DOMAIN, "other")

    def test_exists_raises(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        with pytest.raises(actions.AccountExists, match="alice@localhost already exists"):
            actions.do_create_account("alice", DOMAIN, "pw2")
        assert Account.objects.count() == 1

    def test_same_username_other_domain_is_another_account(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        actions.do_create_account("alice", "example.org", "pw")
        assert Account.objects.count() == 2

    @pytest.mark.parametrize("name", ["", "a b", "a:b", "a'b", "a<b", "a/b", "x" * 1024])
    def test_invalid_localpart(self, name: str) -> None:
        with pytest.raises(actions.InvalidAccountJID):
            actions.do_create_account(name, DOMAIN, "pw")
        assert not Account.objects.exists()

    @pytest.mark.parametrize("jid", ["localhost", "alice@localhost/res", "@localhost", "alice@"])
    def test_invalid_jid(self, jid: str) -> None:
        with pytest.raises(actions.InvalidAccountJID):
            actions.do_create_account(jid, None, "pw")

    def test_jid_on_another_domain_than_given(self) -> None:
        with pytest.raises(actions.InvalidAccountJID, match="not on domain"):
            actions.do_create_account("alice@example.org", DOMAIN, "pw")

    def test_empty_password(self) -> None:
        with pytest.raises(actions.InvalidPassword):
            actions.do_create_account("alice", DOMAIN, "")
        assert not Account.objects.exists()

    def test_signal(self) -> None:
        seen: list[str] = []

        def receiver(sender, account, **kw):
            seen.append(account.jid)

        account_created.connect(receiver)
        try:
            actions.do_create_account("sig", DOMAIN, "pw")
        finally:
            account_created.disconnect(receiver)
        assert seen == ["sig@localhost"]


class TestPassword:
    def test_set_password(self) -> None:
        actions.do_create_account("alice", DOMAIN, "old")
        before = Account.objects.get()
        actions.do_set_password("alice", DOMAIN, "new")
        after = Account.objects.get()
        assert bytes(after.sha256_salt) != bytes(before.sha256_salt)
        assert actions.check_account_password("alice", DOMAIN, "new")
        assert not actions.check_account_password("alice", DOMAIN, "old")

    def test_set_password_missing(self) -> None:
        with pytest.raises(actions.AccountNotFound):
            actions.do_set_password("ghost", DOMAIN, "pw")

    def test_set_empty_password_keeps_the_old_one(self) -> None:
        actions.do_create_account("alice", DOMAIN, "old")
        with pytest.raises(actions.InvalidPassword):
            actions.do_set_password("alice", DOMAIN, "")
        assert actions.check_account_password("alice", DOMAIN, "old")

    def test_check_password(self) -> None:
        actions.do_create_account("alice", DOMAIN, "wonderland")
        assert actions.check_account_password("alice", DOMAIN, "wonderland")
        assert actions.check_account_password("ALICE", DOMAIN, "wonderland")
        assert not actions.check_account_password("alice", DOMAIN, "Wonderland")
        assert not actions.check_account_password("alice", "example.org", "wonderland")
        assert not actions.check_account_password("ghost", DOMAIN, "wonderland")
        assert not actions.check_account_password("bad name", DOMAIN, "wonderland")

    def test_unicode_password(self) -> None:
        actions.do_create_account("uni", DOMAIN, "pässwörd ☃")
        assert actions.check_account_password("uni", DOMAIN, "pässwörd ☃")


class TestCredentials:
    def test_credentials_match_rfc5802(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pencil")
        creds = actions.get_credentials("alice", DOMAIN)
        assert set(creds) == {"SHA-1", "SHA-256"}
        for hash_name, digest in (("SHA-1", "sha1"), ("SHA-256", "sha256")):
            c = creds[hash_name]
            assert isinstance(c.salt, bytes) and isinstance(c.stored_key, bytes)
            assert (c.stored_key, c.server_key) == _rfc5802_keys("pencil", c.salt, c.iterations, digest)

    def test_missing_or_invalid_gives_empty(self) -> None:
        assert actions.get_credentials("ghost", DOMAIN) == {}
        assert actions.get_credentials("in valid", DOMAIN) == {}
        assert actions.get_credentials("alice", "bad domain!") == {}

    def test_one_query(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        with CaptureQueriesContext(connection) as ctx:
            actions.get_credentials("alice", DOMAIN)
        assert len(ctx.captured_queries) == 1


class TestActive:
    def test_disabled_cannot_log_in(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        actions.do_set_active("alice", DOMAIN, False)
        assert actions.get_credentials("alice", DOMAIN) == {}
        assert not actions.check_account_password("alice", DOMAIN, "pw")
        assert actions.account_exists("alice", DOMAIN)  # the JID stays taken
        actions.do_set_active("alice@localhost", None, True)
        assert actions.check_account_password("alice", DOMAIN, "pw")

    def test_missing(self) -> None:
        with pytest.raises(actions.AccountNotFound):
            actions.do_set_active("ghost", DOMAIN, False)


class TestDelete:
    def test_delete(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        seen: list[tuple[str, str]] = []

        def receiver(sender, username, domain, **kw):
            seen.append((username, domain))

        account_deleted.connect(receiver)
        try:
            actions.do_delete_account("Alice@localhost")
        finally:
            account_deleted.disconnect(receiver)
        assert not actions.account_exists("alice", DOMAIN)
        assert actions.get_credentials("alice", DOMAIN) == {}
        assert seen == [("alice", DOMAIN)]

    def test_delete_missing(self) -> None:
        with pytest.raises(actions.AccountNotFound, match="ghost@localhost"):
            actions.do_delete_account("ghost", DOMAIN)


class TestLogout:
    def test_record_logout(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        assert actions.get_last_logout("alice", DOMAIN) == (None, "")
        assert actions.do_record_logout("alice", DOMAIN, "Gone fishing")
        when, status = actions.get_last_logout("alice", DOMAIN)
        assert when is not None and status == "Gone fishing"
        assert actions.do_record_logout("alice", DOMAIN, None)
        assert actions.get_last_logout("alice", DOMAIN)[1] == ""

    def test_record_logouts_in_a_burst(self) -> None:
        from datetime import datetime, timezone

        actions.do_create_account("alice", DOMAIN, "pw")
        actions.do_create_account("bob", DOMAIN, "pw")
        one = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
        two = datetime(2026, 1, 2, 3, 4, 6, tzinfo=timezone.utc)
        assert actions.do_record_logouts([("alice", DOMAIN, one, "Gone fishing"),
                                          ("bob", DOMAIN, two, None),
                                          ("ghost", DOMAIN, two, "nobody")]) == 2
        assert actions.get_last_logout("alice", DOMAIN) == (one, "Gone fishing")
        assert actions.get_last_logout("bob", DOMAIN) == (two, "")
        assert actions.get_last_logout("ghost", DOMAIN) is None
        assert actions.do_record_logouts([("alice", DOMAIN, two, "x" * 5000)]) == 1
        assert actions.get_last_logout("alice", DOMAIN) == (two, "x" * actions.MAX_STATUS_LENGTH)

    def test_record_logout_of_missing_account(self) -> None:
        assert actions.do_record_logout("ghost", DOMAIN, "bye") is False
        assert actions.do_record_logout("bad name", DOMAIN, "bye") is False
        assert actions.get_last_logout("ghost", DOMAIN) is None

    def test_status_is_bounded(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        actions.do_record_logout("alice", DOMAIN, "x" * 10000)
        assert len(actions.get_last_logout("alice", DOMAIN)[1]) == actions.MAX_STATUS_LENGTH


class TestReaders:
    def test_exists(self) -> None:
        actions.do_create_account("alice", DOMAIN, "pw")
        assert actions.account_exists("alice", DOMAIN)
        assert actions.account_exists("ALICE", "LOCALHOST")
        assert not actions.account_exists("bob", DOMAIN)
        assert not actions.account_exists("alice", "example.org")
        assert not actions.account_exists("", DOMAIN)

    def test_list(self) -> None:
        for jid in ("zed@localhost", "amy@localhost", "bob@example.org"):
            actions.do_create_account(jid, None, "pw")
        assert [a.jid for a in actions.list_accounts()] == [
            "bob@example.org", "amy@localhost", "zed@localhost"]
        assert [a.jid for a in actions.list_accounts("localhost")] == ["amy@localhost", "zed@localhost"]
        assert actions.list_accounts("nowhere.example") == []
