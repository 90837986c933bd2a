"""Shared by the account commands: JID checks and password prompts with clear errors."""

from __future__ import annotations

import getpass

from django.conf import settings
from django.core.management.base import CommandError

from accounts import actions
from xmppcore.jid import JID


def account_jid(text: str, *, hosted: bool = True) -> JID:
    """The bare JID of an account named on the command line; CommandError when invalid."""
    try:
        jid = actions.parse_account_jid(text)
    except actions.InvalidAccountJID as exc:
        raise CommandError(str(exc)) from None
    if hosted and jid.domain not in {d.lower() for d in settings.XMPP_DOMAINS}:
        served = ", ".join(settings.XMPP_DOMAINS) or "none"
        raise CommandError(f"{jid.domain} is not a domain this server hosts (XMPP_DOMAINS: {served})")
    return jid


def read_password(given: str | None, *, interactive: bool = True) -> str:
    """`--password` if given, else asked twice on the terminal (getpass does not echo)."""
    if given is not None:
        password = given
    elif not interactive:
        raise CommandError("no --password given and --no-input is set")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("aborted") from None
        if password != again:
            raise CommandError("the two passwords differ")
    if not password:
        raise CommandError("the password may not be empty")
    return password
