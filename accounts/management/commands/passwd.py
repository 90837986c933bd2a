"""`manage.py passwd user@domain [--password P]`: set an XMPP account's password."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import actions
from accounts.management.commands._common import account_jid, read_password


class Command(BaseCommand):
    help = "Set an XMPP account's password. Without --password, it is asked twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("jid", help="the account's bare JID, user@domain")
        parser.add_argument("--password", help="the new password (visible in the process list: "
                                               "prefer the prompt)")
        parser.add_argument("--no-input", action="store_false", dest="interactive",
                            help="never prompt; fail when --password is missing")

    def handle(self, *args: Any, jid: str, password: str | None, interactive: bool,
               **options: Any) -> None:
        bare = account_jid(jid, hosted=False)
        if not actions.account_exists(bare.local, bare.domain):
            raise CommandError(f"no account {bare}")
        secret = read_password(password, interactive=interactive)
        try:
            actions.do_set_password(bare.local, bare.domain, secret)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Password of {bare} changed"))
