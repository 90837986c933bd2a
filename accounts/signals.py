"""Signals other apps connect to, so that `accounts` never imports them (DESIGN.md layers).

`account_deleted` is sent inside the deleting transaction, with `username` and `domain`:
rosters, offline messages and the like delete their rows for that JID in the same commit.
"""

from django.dispatch import Signal

account_created = Signal()  # kwargs: account
account_deleted = Signal()  # kwargs: username, domain
