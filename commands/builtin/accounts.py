"""Account commands: register, unregister, change password, disable/enable, list, count, info
(XEP-0133 §4.1-§4.8, §4.16-§4.18; ejabberd's register/unregister/change_password/ban_account)."""

from __future__ import annotations

from typing import Any

from accounts import actions
from commands.builtin._common import (XEP0133, account_jid, check_hosted_domain,
                                      from_account_error, require_account)
from commands.registry import Arg, Command, Context
from xmppcore.jid import JID
from xmppd.storage import db

JID_ARG = Arg("jid", "jid", label="The account (user@domain)")
PASSWORD_ARG = Arg("password", "password", label="Password", min=1, max=1024)
DOMAIN_FILTER = Arg("domain", "domain", label="Domain", required=False,
                    help="Only this domain (required for domain administrators).")


def register(ctx: Context, jid: JID, password: str) -> None:
    account_jid(jid)
    try:
        actions.do_create_account(jid.local, jid.domain, password)
    except actions.AccountError as exc:
        raise from_account_error(exc) from None


async def unregister(ctx: Context, jid: JID) -> None:
    """Delete the account (its roster and offline messages go in the same commit); its
    sessions end with <not-authorized/> and its contacts' rosters in memory lose it once
    committed (commands.revocation)."""
    account_jid(jid)
    try:
        await db(actions.do_delete_account, jid.local, jid.domain)
    except actions.AccountError as exc:
        raise from_account_error(exc) from None


def change_password(ctx: Context, jid: JID, password: str) -> None:
    account_jid(jid)
    try:
        actions.do_set_password(jid.local, jid.domain, password)
    except actions.AccountError as exc:
        raise from_account_error(exc) from None


async def disable_account(ctx: Context, jid: JID) -> None:
    """Disabled accounts keep their data but cannot log in; their sessions end now."""
    account_jid(jid)
    try:
        await db(actions.do_set_active, jid.local, jid.domain, False)
    except actions.AccountError as exc:
        raise from_account_error(exc) from None


def enable_account(ctx: Context, jid: JID) -> None:
    account_jid(jid)
    try:
        actions.do_set_active(jid.local, jid.domain, True)
    except actions.AccountError as exc:
        raise from_account_error(exc) from None


def list_users(ctx: Context, domain: str | None) -> list[dict[str, Any]]:
    if domain is not None:
        check_hosted_domain(domain)
    return [{"jid": a.jid, "active": a.is_active, "created_at": a.created_at,
             "last_logout_at": a.last_logout_at} for a in actions.list_accounts(domain)]


def count_users(ctx: Context, domain: str | None) -> int:
    if domain is not None:
        check_hosted_domain(domain)
    return len(actions.list_accounts(domain))


def user_info(ctx: Context, jid: JID) -> dict[str, Any]:
    account_jid(jid)
    from offline.actions import count_messages
    from rosters.actions import load_roster

    account = require_account(jid)
    items, _ = load_roster(jid.local, jid.domain)
    return {"jid": account.jid, "active": account.is_active, "created_at": account.created_at,
            "last_logout_at": account.last_logout_at, "last_status": account.last_status,
            "roster_items": sum(1 for i in items if i.is_listed),
            "offline_messages": count_messages(jid.local, jid.domain)}


COMMANDS = (
    Command("register", "Create an account.", (JID_ARG, PASSWORD_ARG), "none", "domain_admin",
            register, xep0133_node=XEP0133 + "add-user"),
    Command("unregister", "Delete an account with its roster and offline messages, ending its sessions.",
            (JID_ARG,), "none", "domain_admin", unregister, xep0133_node=XEP0133 + "delete-user"),
    Command("change_password", "Set a new password for an account.", (JID_ARG, PASSWORD_ARG), "none",
            "user", change_password, xep0133_node=XEP0133 + "change-user-password"),
    Command("disable_account", "Disable an account: it keeps its data but cannot log in; its sessions end.",
            (JID_ARG,), "none", "domain_admin", disable_account, xep0133_node=XEP0133 + "disable-user"),
    Command("enable_account", "Enable a disabled account again.", (JID_ARG,), "none", "domain_admin",
            enable_account, xep0133_node=XEP0133 + "reenable-user"),
    Command("list_users", "List the registered accounts.", (DOMAIN_FILTER,), "table", "domain_admin",
            list_users, xep0133_node=XEP0133 + "get-registered-users-list", read_only=True,
            columns=("jid", "active", "created_at", "last_logout_at")),
    Command("count_users", "Count the registered accounts.", (DOMAIN_FILTER,), "int", "domain_admin",
            count_users, xep0133_node=XEP0133 + "get-registered-users-num", read_only=True),
    Command("user_info", "An account's state: enabled, dates, roster size, offline messages.",
            (JID_ARG,), "dict", "user", user_info, read_only=True),
)
