"""vCards in the Django admin: read and delete; deletions go through `vcards.actions`."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from vcards import actions
from vcards.models import VCard


@admin.register(VCard)
class VCardAdmin(admin.ModelAdmin):
    list_display = ("jid", "updated_at")
    list_filter = ("domain",)
    search_fields = ("username", "domain")
    ordering = ("domain", "username")
    readonly_fields = ("username", "domain", "updated_at", "xml")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vCards are published over XMPP only

    def has_change_permission(self, request: HttpRequest, obj: VCard | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: VCard) -> None:
        actions.do_delete_vcard(obj.username, obj.domain)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[VCard]) -> None:
        for username, domain in queryset.values_list("username", "domain"):
            actions.do_delete_vcard(username, domain)
