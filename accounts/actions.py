"""Accounts: the only functions that write `Account` rows, and the readers the server uses.

Every caller — the XMPP module (`accounts.xmpp`), the Django admin, the management
commands — goes through these. They are synchronous ORM code; async callers wrap them
in `xmppd.storage.db`. Usernames are normalized with the RFC 7622 §3.3 localpart rules
(`xmppcore.jid`), so `Alice` and `alice` are one account.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from xmppd.storage import execute_many, select
from accounts.signals import account_created, account_deleted, account_removed, credentials_revoked
from xmppcore.jid import JID, InvalidJID
from xmppcore.sasl import ScramCredentials, check_password, make_scram_credentials

log = logging.getLogger(__name__)

# RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256): the hashes we keep credentials for,
# and the model field prefix of each.
HASHES: dict[str, str] = {"SHA-1": "sha1", "SHA-256": "sha256"}
# XEP-0012 §4 stores a status text; keep a bound so a client cannot grow the row without limit.
MAX_STATUS_LENGTH = 1024


class AccountError(Exception):
    """Base class: an account operation that cannot be done, with a message for humans."""


class InvalidAccountJID(AccountError):
    """The username or domain is not a valid bare JID under RFC 7622."""


class AccountExists(AccountError):
    """An account with that username already exists on that domain."""


class AccountReserved(AccountExists):
    """The username is kept for the operators (XMPP_RESERVED_USERNAMES, the administrators)."""


class AccountNotFound(AccountError):
    """No account with that username on that domain."""


class InvalidPassword(AccountError):
    """The password is empty or not acceptable to SCRAM (RFC 5802 §5.1 SASLprep)."""


# -- naming ---------------------------------------------------------------------------

def parse_account_jid(jid_or_user: str, domain: str | None = None) -> JID:
    """The bare JID `jid_or_user` names: `user@domain`, or a localpart plus `domain`.

    Raises InvalidAccountJID when the result is not a bare JID with a localpart, or when
    both a full `user@domain` and a different `domain` are given.
    """
    if not jid_or_user:
        raise InvalidAccountJID("a username is required")
    text = jid_or_user if "@" in jid_or_user or domain is None else f"{jid_or_user}@{domain}"
    try:
        jid = JID.parse(text)
    except InvalidJID as exc:
        raise InvalidAccountJID(f"invalid JID {text!r}: {exc}") from None
    if jid.local is None:
        raise InvalidAccountJID(f"{text!r} has no username (expected user@domain)")
    if jid.resource is not None:
        raise InvalidAccountJID(f"{text!r} has a resource; an account is a bare JID")
    if domain is not None and "@" in jid_or_user and jid.domain != _normalize_domain(domain):
        raise InvalidAccountJID(f"{jid_or_user!r} is not on domain {domain!r}")
    return jid


def _normalize_domain(domain: str) -> str:
    try:
        return JID.parse(domain).domain
    except InvalidJID as exc:
        raise InvalidAccountJID(f"invalid domain {domain!r}: {exc}") from None


def _lookup(username: str, domain: str) -> JID | None:
    """Readers' normalization: an invalid name simply has no account."""
    try:
        return parse_account_jid(username, domain)
    except InvalidAccountJID:
        return None


def _get(jid: JID) -> Account:
    try:
        return Account.objects.get(username=jid.local, domain=jid.domain)
    except Account.DoesNotExist:
        raise AccountNotFound(f"no account {jid}") from None


# -- credentials ----------------------------------------------------------------------

def _scram_fields(password: str) -> dict[str, object]:
    """Model field values for fresh, independently salted SCRAM credentials of every hash."""
    if not isinstance(password, str) or password == "":
        raise InvalidPassword("the password may not be empty")
    iterations = int(settings.XMPP_SCRAM_ITERATIONS)
    fields: dict[str, object] = {}
    for hash_name, prefix in HASHES.items():
        try:
            creds = make_scram_credentials(password, hash_name, iterations=iterations)
        except ValueError as exc:  # SASLprep rejected it (prohibited or unassigned characters)
            raise InvalidPassword(f"the password is not acceptable: {exc}") from None
        fields[f"{prefix}_salt"] = creds.salt
        fields[f"{prefix}_iterations"] = creds.iterations
        fields[f"{prefix}_stored_key"] = creds.stored_key
        fields[f"{prefix}_server_key"] = creds.server_key
    return fields


def _credentials_of(account: Account) -> dict[str, ScramCredentials]:
    out: dict[str, ScramCredentials] = {}
    for hash_name, prefix in HASHES.items():
        out[hash_name] = ScramCredentials(
            salt=bytes(getattr(account, f"{prefix}_salt")),
            iterations=getattr(account, f"{prefix}_iterations"),
            stored_key=bytes(getattr(account, f"{prefix}_stored_key")),
            server_key=bytes(getattr(account, f"{prefix}_server_key")),
        )
    return out


# -- writers --------------------------------------------------------------------------

def do_create_account(jid_or_user: str, domain: str | None, password: str) -> Account:
    """Create `user@domain` with SCRAM-SHA-1 and SCRAM-SHA-256 credentials for `password`.

    Raises InvalidAccountJID, InvalidPassword, or AccountExists (also when another
    request created it concurrently: the unique constraint decides).
    """
    jid = parse_account_jid(jid_or_user, domain)
    fields = _scram_fields(password)
    with transaction.atomic():
        try:
            with transaction.atomic():
                account = Account.objects.create(username=jid.local, domain=jid.domain, **fields)
        except IntegrityError:
            raise AccountExists(f"the account {jid} already exists") from None
        account_created.send(sender=Account, account=account)
    log.info("account created: %s", jid)
    return account


def _admin_jids() -> set[JID]:
    """The bare JIDs of XMPP_ADMINS and XMPP_DOMAIN_ADMINS ("domain=jid1 jid2;...")."""
    texts = list(getattr(settings, "XMPP_ADMINS", ()) or ())
    texts += re.findall(r"[^\s,;=]+@[^\s,;=]+", getattr(settings, "XMPP_DOMAIN_ADMINS", "") or "")
    out = set()
    for text in texts:
        try:
            out.add(JID.parse(text).bare)
        except InvalidJID:
            continue
    return out


def is_reserved(jid: JID) -> bool:
    """Whether nobody may take `jid` for themselves: an administrator's JID, or a username in
    XMPP_RESERVED_USERNAMES (admin, postmaster, abuse, ...: RFC 2142 role mailboxes)."""
    names = {n.strip().lower() for n in getattr(settings, "XMPP_RESERVED_USERNAMES", ()) or ()}
    return (jid.local or "").lower() in names or jid.bare in _admin_jids()


def do_register_account(username: str, domain: str, password: str) -> Account:
    """Self-service registration (XEP-0077): as do_create_account, except that reserved names
    raise AccountReserved (operators create those accounts with do_create_account)."""
    if is_reserved(parse_account_jid(username, domain)):
        raise AccountReserved(f"the username {username} is reserved")
    return do_create_account(username, domain, password)


def do_set_password(jid_or_user: str, domain: str | None, password: str) -> None:
    """Replace the account's credentials with fresh salts for `password`."""
    jid = parse_account_jid(jid_or_user, domain)
    fields = _scram_fields(password)
    if not Account.objects.filter(username=jid.local, domain=jid.domain).update(**fields):
        raise AccountNotFound(f"no account {jid}")
    _revoke_on_commit(jid)
    log.info("password changed: %s", jid)


def do_delete_account(jid_or_user: str, domain: str | None = None) -> None:
    """Delete the account; `account_deleted` lets other apps drop their rows in the same commit."""
    jid = parse_account_jid(jid_or_user, domain)
    with transaction.atomic():
        _get(jid).delete()
        account_deleted.send(sender=Account, username=jid.local, domain=jid.domain)
        _revoke_on_commit(jid)
        transaction.on_commit(lambda: account_removed.send(
            sender=Account, username=jid.local, domain=jid.domain))
    log.info("account deleted: %s", jid)


def do_set_active(jid_or_user: str, domain: str | None, active: bool) -> None:
    """Enable or disable the account; a disabled account has no credentials to log in with."""
    jid = parse_account_jid(jid_or_user, domain)
    if not Account.objects.filter(username=jid.local, domain=jid.domain).update(is_active=active):
        raise AccountNotFound(f"no account {jid}")
    if not active:
        _revoke_on_commit(jid)
    log.info("account %s: %s", "enabled" if active else "disabled", jid)


def _revoke_on_commit(jid: JID) -> None:
    """Once the change is committed, the account's live sessions end (issue 8, from every
    face: XEP-0077, REST, admin, manage.py, commands) — see accounts.signals."""
    transaction.on_commit(lambda: credentials_revoked.send(
        sender=Account, username=jid.local, domain=jid.domain))


def do_record_logout(username: str, domain: str, status: str | None) -> bool:
    """XEP-0012 §4: remember when the user last logged out, and their last status text.

    Returns False (and does nothing) when the account no longer exists — e.g. the
    session closing is the one that just cancelled its registration.
    """
    jid = _lookup(username, domain)
    if jid is None:
        return False
    text = (status or "")[:MAX_STATUS_LENGTH]
    updated = Account.objects.filter(username=jid.local, domain=jid.domain).update(
        last_logout_at=timezone.now(), last_status=text)
    return bool(updated)


def do_record_logouts(logouts: list[tuple[str, str, datetime, str | None]]) -> int:
    """Record many logouts in one transaction (one commit for a burst of disconnects), as
    one raw UPDATE run for every row: every login ends with one of these."""
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(adapt(when), (status or "")[:MAX_STATUS_LENGTH], username, domain)
            for username, domain, when, status in logouts]
    with transaction.atomic():
        return execute_many(f"UPDATE {Account._meta.db_table} SET last_logout_at = %s, "
                            "last_status = %s WHERE username = %s AND domain = %s", rows)


# -- readers --------------------------------------------------------------------------

def get_account(username: str, domain: str) -> Account | None:
    """The account, enabled or not, or None."""
    jid = _lookup(username, domain)
    if jid is None:
        return None
    return Account.objects.filter(username=jid.local, domain=jid.domain).first()


_CREDENTIAL_COLUMNS = ", ".join(f"{prefix}_{part}" for prefix in HASHES.values()
                                for part in ("salt", "iterations", "stored_key", "server_key"))


def get_credentials(username: str, domain: str) -> dict[str, ScramCredentials]:
    """SCRAM credentials by hash name ("SHA-1", "SHA-256"); {} when missing or disabled.

    On every login: one raw SELECT (xmppd.storage.select), no ORM query compilation."""
    jid = _lookup(username, domain)
    if jid is None:
        return {}
    rows = select(f"SELECT is_active, {_CREDENTIAL_COLUMNS} FROM {Account._meta.db_table} "
                  "WHERE username = %s AND domain = %s", (jid.local, jid.domain))
    if not rows or not rows[0][0]:
        return {}
    values = rows[0][1:]
    out: dict[str, ScramCredentials] = {}
    for i, hash_name in enumerate(HASHES):
        salt, iterations, stored_key, server_key = values[4 * i:4 * i + 4]
        out[hash_name] = ScramCredentials(salt=bytes(salt), iterations=iterations,
                                          stored_key=bytes(stored_key), server_key=bytes(server_key))
    return out


def check_account_password(username: str, domain: str, password: str) -> bool:
    """True when the account exists, is enabled, and `password` is its password (PLAIN).
    Reads and derives in one call; the server splits the two (`password_matches`)."""
    return password_matches(get_credentials(username, domain).get("SHA-256"), password)


def password_matches(creds: ScramCredentials | None, password: str) -> bool:
    """No database: the key derivation alone, for the PBKDF2 pool (xmppd.storage.derive).

    A missing account still costs one key derivation, so timing does not tell which
    usernames exist.
    """
    if creds is None:
        _burn_derivation(password)
        return False
    return check_password(password, creds, "SHA-256")


def _burn_derivation(password: str) -> None:
    try:
        make_scram_credentials(password or "x", "SHA-256",
                               iterations=int(settings.XMPP_SCRAM_ITERATIONS))
    except ValueError:
        pass


def account_exists(username: str, domain: str) -> bool:
    """True when the account exists, whether enabled or not (its JID is taken either way)."""
    jid = _lookup(username, domain)
    if jid is None:
        return False
    return Account.objects.filter(username=jid.local, domain=jid.domain).exists()


def get_last_logout(username: str, domain: str) -> tuple[datetime | None, str] | None:
    """XEP-0012 §4: (last logout time or None if never, last status text), or None if no account."""
    jid = _lookup(username, domain)
    if jid is None:
        return None
    row = (Account.objects.filter(username=jid.local, domain=jid.domain)
           .values_list("last_logout_at", "last_status").first())
    return None if row is None else (row[0], row[1])


def list_accounts(domain: str | None = None) -> list[Account]:
    """Every account, or those of `domain`, ordered by domain then username."""
    qs = Account.objects.all()
    if domain is not None:
        qs = qs.filter(domain=_normalize_domain(domain))
    return list(qs.order_by("domain", "username"))
