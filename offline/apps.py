from __future__ import annotations

from django.apps import AppConfig


class OfflineConfig(AppConfig):
    name = "offline"
    verbose_name = "Offline messages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from offline.actions import on_account_deleted

        # The messages of a deleted account go with it, in the same transaction. The
        # model is named lazily: offline does not import the accounts app (DESIGN.md layers).
        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="offline.account_deleted")
