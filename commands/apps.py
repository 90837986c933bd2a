from django.apps import AppConfig


class CommandsConfig(AppConfig):
    name = "commands"
    verbose_name = "Operator commands"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Commands register themselves when their modules are imported (DESIGN.md: modules
        # register in AppConfig.ready(), never as a side effect of importing the app).
        from commands.builtin import load_builtin
        from commands.revocation import connect

        load_builtin()
        connect()
