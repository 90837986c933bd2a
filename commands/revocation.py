"""Ending an account's live sessions when its credentials are revoked (issue 8).

`accounts.actions` sends `credentials_revoked` after committing a password change, a
disable or a delete, whatever the face (XEP-0077, REST, admin, manage.py, commands). The
server running in this process ends the account's sessions: its own, and through the
cluster (`RemoteSession.closer` carries xmpp.close) those bound on other nodes. A process
without a server (manage.py from a shell, a separate HTTP process) hands the JID over the
channel layer to the xmppd process that reads `live.ROUTE_CHANNEL`.

`account_removed` (a committed deletion) takes the same way: the server fires
`account/deleted` (the contacts' rosters in memory drop the account, with a roster push) and
tells the other cluster nodes to do the same (`Cluster.account_deleted`).

Whatever the process, the stored credentials go too: the API tokens that belong to the
account (`ApiToken.account`) are revoked and the Django sessions `/auth/xmpp/` (XEP-0070)
authorised as it are deleted.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any

from accounts.signals import KEEP_SESSION, account_removed, credentials_revoked
from commands import actions, live
from xmppcore.jid import JID
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
CLOSE_TYPE = "commands.close"
FORGET_TYPE = "commands.forget"  # an account was deleted: contacts' rosters in memory drop it
CONDITION = "not-authorized"  # RFC 6120 §4.9.3.12: the credentials no longer hold
_TASKS: "set[asyncio.Task[Any]]" = set()


def connect() -> None:
    credentials_revoked.connect(_revoked, dispatch_uid="commands.revocation")
    account_removed.connect(_removed, dispatch_uid="commands.revocation.removed")


def _revoked(sender: Any, username: str, domain: str, **_: Any) -> None:
    bare = JID(username, domain, None)
    _revoke_stored(str(bare))
    _on_server(CLOSE_TYPE, bare)


def _removed(sender: Any, username: str, domain: str, **_: Any) -> None:
    """A committed deletion, from any face: the contacts' rosters in memory lose the account."""
    _on_server(FORGET_TYPE, JID(username, domain, None))


def _on_server(kind: str, bare: JID) -> None:
    """Act on the server running in this process; without one, hand `bare` over the channel
    layer to the xmppd process that reads `live.ROUTE_CHANNEL` (`handle`)."""
    running = live.current()
    if running is not None and running.loop is not None:
        # From the loop (a handler) or a worker thread: either way, on the loop, in order —
        # in a context of its own: the committing DB thread's context (asgiref's executor
        # markers) would make the tasks it starts refuse to reach the database again.
        running.loop.call_soon_threadsafe(_act, running.server, kind, bare, context=contextvars.Context())
        return
    from asgiref.sync import async_to_sync
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # no server anywhere to reach: nobody is logged in
    async_to_sync(layer.send)(live.ROUTE_CHANNEL, {"type": kind, "jid": str(bare)})


def handle(server: "Server", message: dict[str, Any]) -> bool:
    """A message of ROUTE_CHANNEL that is ours (True), acted on; else False."""
    kind = message.get("type")
    if kind not in (CLOSE_TYPE, FORGET_TYPE):
        return False
    _act(server, kind, JID.parse(message["jid"]))
    return True


def _act(server: "Server", kind: str, bare: JID) -> None:
    if kind == CLOSE_TYPE:
        end_sessions(server, bare)
    else:
        _keep(asyncio.get_running_loop().create_task(forget_everywhere(server, bare)))


async def forget_everywhere(server: "Server", gone: JID) -> None:
    """`account/deleted` here (rosters drop `gone` and push the removal, RFC 6121 §2.5.3),
    and through the cluster on every other node (`cluster/account-deleted`)."""
    await server.hooks.fire_all("account/deleted", gone)
    cluster = getattr(server, "cluster", None)
    if cluster is not None:
        cluster.account_deleted(gone)
    log.info("account %s deleted: removed from its contacts' rosters", gone)


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
    _keep(loop.create_task(db(revoke_stored, account)))  # never the ORM on the event loop


def _keep(task: "asyncio.Task[Any]") -> None:
    """Hold the task until it ends (the loop keeps only weak references to tasks)."""
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


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
