from django.apps import AppConfig


class RostersConfig(AppConfig):
    name = "rosters"
    verbose_name = "XMPP rosters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Drop a deleted account's roster in the same transaction.

        The sender is named lazily so that this app does not import `accounts` (the two are
        independent siblings in DESIGN.md's layers).
        """
        from django.db.models.signals import post_delete

        from rosters.actions import on_account_deleted

        post_delete.connect(on_account_deleted, sender="accounts.Account",
                            dispatch_uid="rosters.account_deleted")
