"""Export of a user's data as JSON (account, roster, offline messages): a Celery task."""

from __future__ import annotations

from typing import Any

from commands.builtin._common import account_jid, require_account
from commands.registry import Arg, Command, Context
from xmppcore.jid import JID


def export_user(ctx: Context, jid: JID) -> dict[str, Any]:
    from offline.models import OfflineMessage
    from rosters.actions import load_roster

    account_jid(jid)
    ctx.progress(0, 3, "account")
    account = require_account(jid)
    data: dict[str, Any] = {"jid": account.jid, "account": {
        "active": account.is_active, "created_at": account.created_at,
        "last_logout_at": account.last_logout_at, "last_status": account.last_status}}
    ctx.check_cancelled()
    ctx.progress(1, 3, "roster")
    items, version = load_roster(jid.local, jid.domain)
    data["roster"] = {"version": version, "items": [
        {"jid": str(i.jid), "name": i.name, "subscription": i.subscription, "ask": i.ask,
         "groups": list(i.groups)} for i in items if i.is_listed]}
    ctx.check_cancelled()
    ctx.progress(2, 3, "offline messages")
    data["offline_messages"] = [
        {"from": sender, "stored_at": stored_at, "xml": xml}
        for sender, stored_at, xml in OfflineMessage.objects.filter(username=jid.local, domain=jid.domain)
        .order_by("id").values_list("sender", "stored_at", "stanza")]
    ctx.progress(3, 3, "done")
    return data


COMMANDS = (
    Command("export_user", "Export a user's data (account, roster, offline messages) as JSON.",
            (Arg("jid", "jid", label="The account (user@domain)"),), "dict", "user", export_user,
            category="accounts", long_running=True, read_only=True),
)
