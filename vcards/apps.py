from __future__ import annotations

from django.apps import AppConfig


class VcardsConfig(AppConfig):
    name = "vcards"
    verbose_name = "vCards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from vcards.actions import on_account_deleted

        # The vCard of a deleted account goes with it, in the same transaction. The
        # model is named lazily: vcards does not import the accounts app (DESIGN.md layers).
        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="vcards.account_deleted")
