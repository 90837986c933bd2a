from __future__ import annotations

from django.apps import AppConfig


class PubsubConfig(AppConfig):
    name = "pubsub"
    verbose_name = "Publish-subscribe"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from pubsub.actions import on_account_deleted

        # An account's PEP nodes go with it (named lazily: pubsub does not import accounts).
        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="pubsub.account_deleted")
