"""Offline messages in the Django admin: read and delete; deletions go through `offline.actions`."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from offline import actions
from offline.models import OfflineMessage


@admin.register(OfflineMessage)
class OfflineMessageAdmin(admin.ModelAdmin):
    list_display = ("jid", "sender", "stored_at")
    list_filter = ("domain",)
    search_fields = ("username", "domain", "sender")
    ordering = ("id",)
    readonly_fields = ("username", "domain", "sender", "stored_at", "stanza")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages arrive over XMPP only

    def has_change_permission(self, request: HttpRequest, obj: OfflineMessage | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: OfflineMessage) -> None:
        actions.do_delete_messages(obj.username, obj.domain, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[OfflineMessage]) -> None:
        for username, domain, pk in queryset.values_list("username", "domain", "id"):
            actions.do_delete_messages(username, domain, [pk])
