"""Private XML in the Django admin: read and delete; deletions go through `privatexml.actions`."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from privatexml import actions
from privatexml.models import PrivateXML


@admin.register(PrivateXML)
class PrivateXMLAdmin(admin.ModelAdmin):
    list_display = ("jid", "namespace", "size", "updated_at")
    list_filter = ("domain",)
    search_fields = ("username", "domain", "namespace")
    ordering = ("domain", "username", "namespace")
    readonly_fields = ("username", "domain", "namespace", "size", "updated_at", "xml")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # stored over XMPP only (XEP-0049 §4: only the account's resources)

    def has_change_permission(self, request: HttpRequest, obj: PrivateXML | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: PrivateXML) -> None:
        actions.do_delete(obj.username, obj.domain, obj.namespace)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PrivateXML]) -> None:
        for username, domain, namespace in queryset.values_list("username", "domain", "namespace"):
            actions.do_delete(username, domain, namespace)
