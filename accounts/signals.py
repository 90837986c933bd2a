"""Signals other apps connect to, so that `accounts` never imports them (DESIGN.md layers).

`credentials_revoked` is sent after the commit of a password change, a disable or a
delete, with `username` and `domain`: whoever holds the running server ends the account's
live sessions (`commands.revocation`), on every cluster node. A session whose
`data[KEEP_SESSION]` is set (the one that asked, XEP-0077 §3.2/§3.3) is left to its handler.

`account_deleted` is sent inside the deleting transaction, with `username` and `domain`:
rosters, offline messages and the like delete their rows for that JID in the same commit.
`account_removed` follows after the commit (whatever the face: XEP-0077, REST, admin,
manage.py): the running server drops the account from the rosters in memory on every
cluster node and pushes the removal to the contacts (`commands.revocation`).
"""

from contextlib import contextmanager
from typing import Any, Iterator

from django.dispatch import Signal

account_created = Signal()  # kwargs: account
account_deleted = Signal()  # kwargs: username, domain
credentials_revoked = Signal()  # kwargs: username, domain (after the commit)
account_removed = Signal()  # kwargs: username, domain (after the commit of a deletion)

KEEP_SESSION = "accounts.keep-session"  # Session.data key: spared by credentials_revoked


@contextmanager
def keeping(session: Any) -> Iterator[None]:
    """While `session` changes its own account (XEP-0077, Jabber-RPC, SOAP, ad-hoc), the
    revocation spares it: it gets its answer and knows the new password."""
    data = getattr(session, "data", None)
    if not isinstance(data, dict):
        yield
        return
    data[KEEP_SESSION] = True
    try:
        yield
    finally:
        data.pop(KEEP_SESSION, None)
