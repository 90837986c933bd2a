"""Helpers shared by the built-in commands: hosted domains, account JIDs, error mapping."""

from __future__ import annotations

from typing import Any

from commands import live
from commands.registry import CommandError
from xmppcore.jid import JID

XEP0133 = "http://jabber.org/protocol/admin#"


def hosted_domains() -> list[str]:
    """The running server's domains (a reload may change them), else XMPP_DOMAINS."""
    running = live.current()
    if running is not None:
        return list(running.server.config.domains)
    from django.conf import settings

    return [d.lower() for d in settings.XMPP_DOMAINS]


def check_hosted_domain(domain: str, field: str = "domain") -> str:
    if domain not in hosted_domains():
        raise CommandError("bad-request", f"{domain} is not a domain this server hosts",
                           fields={field: "is not a domain this server hosts"})
    return domain


def account_jid(jid: JID, field: str = "jid") -> JID:
    """A hosted account's bare JID: a localpart, a hosted domain, no resource."""
    if jid.local is None:
        raise CommandError("bad-request", f"{jid} has no username", fields={field: "must be user@domain"})
    if jid.resource is not None:
        raise CommandError("bad-request", f"{jid} has a resource", fields={field: "must be a bare JID"})
    check_hosted_domain(jid.domain, field)
    return jid


def from_account_error(exc: Exception, field: str = "jid") -> CommandError:
    """accounts.actions errors as command errors."""
    from accounts import actions

    if isinstance(exc, actions.AccountNotFound):
        return CommandError("not-found", str(exc))
    if isinstance(exc, actions.AccountExists):
        return CommandError("conflict", str(exc))
    if isinstance(exc, actions.InvalidPassword):
        return CommandError("bad-request", str(exc), fields={"password": str(exc)})
    if isinstance(exc, actions.InvalidAccountJID):
        return CommandError("bad-request", str(exc), fields={field: str(exc)})
    return CommandError("internal", str(exc))


def require_account(jid: JID) -> Any:
    """The Account row (sync, ORM) or CommandError("not-found")."""
    from accounts import actions

    account = actions.get_account(jid.local, jid.domain)
    if account is None:
        raise CommandError("not-found", f"no account {jid}")
    return account


