"""The archive in the Django admin: read, search, delete (deletions go through `archive.actions`)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from archive import actions
from archive.models import ArchivedMessage, ArchivePrefs


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # archives are written by the server only

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(ArchivedMessage)
class ArchivedMessageAdmin(ReadOnly):
    list_display = ("owner", "direction", "with_jid", "timestamp", "body")
    list_filter = ("direction",)
    search_fields = ("=owner", "=with_jid", "body", "=stanza_id", "=origin_id")
    ordering = ("-id",)
    show_full_result_count = False  # no COUNT(*) over the whole archive on every page
    readonly_fields = ("owner", "with_jid", "with_resource", "direction", "stanza_id",
                       "origin_id", "timestamp", "body", "stanza")

    def delete_model(self, request: HttpRequest, obj: ArchivedMessage) -> None:
        actions.do_delete_messages(obj.owner, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ArchivedMessage]) -> None:
        by_owner: dict[str, list[int]] = {}
        for owner, pk in queryset.values_list("owner", "id"):
            by_owner.setdefault(owner, []).append(pk)
        for owner, ids in by_owner.items():
            actions.do_delete_messages(owner, ids)


@admin.register(ArchivePrefs)
class ArchivePrefsAdmin(ReadOnly):
    list_display = ("owner", "default")
    search_fields = ("=owner",)
    readonly_fields = ("owner", "default", "always", "never")
