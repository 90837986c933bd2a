from __future__ import annotations

from django.apps import AppConfig


class PrivateXmlConfig(AppConfig):
    name = "privatexml"
    verbose_name = "Private XML storage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from privatexml.actions import on_account_deleted

        # A deleted account's private data goes with it, in the same transaction; the model
        # is named lazily: privatexml does not import the accounts app (DESIGN.md layers).
        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="privatexml.account_deleted")
