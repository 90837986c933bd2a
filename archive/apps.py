from __future__ import annotations

from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "Message archive"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A deleted account's archive and preferences go with it, in the same transaction.

        The sender is named lazily: this app does not import `accounts` (DESIGN.md layers).
        """
        from django.db.models.signals import post_delete

        from archive.actions import on_account_deleted

        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="archive.account_deleted")
