from __future__ import annotations

from django.apps import AppConfig


class MucConfig(AppConfig):
    name = "muc"
    verbose_name = "Multi-User Chat"
    default_auto_field = "django.db.models.BigAutoField"
