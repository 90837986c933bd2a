"""REST API tokens: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from commands import actions
from commands.builtin._common import account_jid, check_hosted_domain
from commands.registry import Arg, Command, CommandError, Context
from xmppcore.jid import JID


def create_api_token(ctx: Context, name: str, domain: str | None, read_only: bool,
                     account: JID | None = None) -> dict[str, Any]:
    """The token belongs to `account`, else to the XMPP account that asks for it (issue 8:
    that account's password change, disable or deletion revokes it); none from the shell."""
    if domain is not None:
        check_hosted_domain(domain)
    owner = account_jid(account, "account") if account is not None else ctx.actor.jid
    token, raw = actions.do_create_token(name, domain or "", read_only,
                                         account=str(owner.bare) if owner is not None else "")
    return {"id": token.id, "token": raw, "scope": token.scope, "account": token.account or None}


def list_api_tokens(ctx: Context) -> list[dict[str, Any]]:
    return [{"id": t.id, "name": t.name, "prefix": t.prefix, "scope": t.scope, "account": t.account or None,
             "active": t.is_active, "created_at": t.created_at, "last_used_at": t.last_used_at}
            for t in actions.list_tokens()]


def revoke_api_token(ctx: Context, id: int) -> None:
    try:
        actions.do_revoke_token(id)
    except actions.NotFound as exc:
        raise CommandError("not-found", str(exc)) from None


COMMANDS = (
    Command("create_api_token", "Create a REST API token (shown once): server-wide or for one domain, "
                                "admin or read-only.",
            (Arg("name", "string", label="Name", min=1, max=200),
             Arg("domain", "domain", label="Domain", required=False, help="Empty: server-wide."),
             Arg("read_only", "bool", label="Read-only", required=False, default=False),
             Arg("account", "jid", label="Owning account", required=False,
                 help="The account it belongs to (default: yours when asked over XMPP); its password "
                      "change, disable or deletion revokes the token.")),
            "dict", "server_admin", create_api_token, category="api"),
    Command("list_api_tokens", "List the REST API tokens (never the tokens themselves).", (), "table",
            "server_admin", list_api_tokens, category="api", read_only=True,
            columns=("id", "name", "prefix", "scope", "account", "active", "created_at", "last_used_at")),
    Command("revoke_api_token", "Revoke a REST API token.", (Arg("id", "int", label="Token id", min=1),),
            "none", "server_admin", revoke_api_token, category="api"),
)
