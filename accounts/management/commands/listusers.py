"""`manage.py listusers [DOMAIN]`: list XMPP accounts, one bare JID a line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import actions


class Command(BaseCommand):
    help = "List XMPP accounts (of one domain if given); disabled ones are marked."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain", nargs="?", help="only the accounts of this domain")

    def handle(self, *args: Any, domain: str | None, **options: Any) -> None:
        try:
            accounts = actions.list_accounts(domain)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        for account in accounts:
            suffix = "" if account.is_active else "  (disabled)"
            self.stdout.write(f"{account.jid}{suffix}")
