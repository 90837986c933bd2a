"""Ending an account's live sessions when its credentials are revoked (issue 8).

`accounts.actions` sends `credentials_revoked` after committing a password change, a
disable or a delete, whatever the face (XEP-0077, REST, admin, manage.py, commands). The
server running in this process ends the account's sessions: its own, and through the
cluster (`RemoteSession.closer` carries xmpp.close) those bound on other nodes. A process
without a server (manage.py from a shell, a separate HTTP process) hands the JID over the
channel layer to the xmppd process that reads `live.ROUTE_CHANNEL`.

Whatever the process, the stored credentials go too: the API tokens that belong to the
account (`ApiToken.account`) are revoked and the Django sessions `/auth/xmpp/` (XEP-0070)
authorised as it are deleted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from accounts.signals import KEEP_SESSION, credentials_revoked
from commands import actions, live
from xmppcore.jid import JID
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
CLOSE_TYPE = "commands.close"
CONDITION = "not-authorized"  # RFC 6120 §4.9.3.12: the credentials no longer hold


def connect() -> None:
    credentials_revoked.connect(_revoked, dispatch_uid="commands.revocation")


def _revoked(sender: Any, username: str, domain: str, **_: Any) -> None:
    bare = JID(username, domain, None)
    _revoke_stored(str(bare))
    running = live.current()
    if running is not None and running.loop is not None:
        # From the loop (a handler) or a worker thread: either way, on the loop, in order.
        running.loop.call_soon_threadsafe(end_sessions, running.server, bare)
        return
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # no server anywhere to reach: nobody is logged in
    async_to_sync(layer.send)(live.ROUTE_CHANNEL, {"type": CLOSE_TYPE, "jid": str(bare)})


def revoke_stored(account: str) -> None:
    """The account's API tokens and XEP-0070 web sessions (database: a worker thread)."""
    actions.do_revoke_account_tokens(account)
    actions.do_end_verified_sessions(account)


def _revoke_stored(account: str) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # the usual case: a do_* function committed in a worker thread
        revoke_stored(account)
        return
    loop.create_task(db(revoke_stored, account))  # never the ORM on the event loop


def end_sessions(server: "Server", bare: JID) -> int:
    """End every session of `bare` (local and on other nodes) but the one that asked."""
    ended = 0
    for session in server.sessions.resources(bare):
        if session.data.get(KEEP_SESSION):
            continue
        result = session.closer(CONDITION)
        if asyncio.iscoroutine(result):
            asyncio.get_running_loop().create_task(result)
        ended += 1
    if ended:
        log.info("credentials of %s revoked: %d session(s) ended", bare, ended)
    return ended
