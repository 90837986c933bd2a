"""`manage.py deluser user@domain`: delete an XMPP account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import actions
from accounts.management.commands._common import account_jid


class Command(BaseCommand):
    help = "Delete an XMPP account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("jid", help="the account's bare JID, user@domain")

    def handle(self, *args: Any, jid: str, **options: Any) -> None:
        bare = account_jid(jid, hosted=False)  # an account of a domain no longer served can go
        try:
            actions.do_delete_account(bare.local, bare.domain)
        except actions.AccountError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Deleted {bare}"))
