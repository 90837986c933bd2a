"""Rooms, affiliations and history in the Django admin. Every change goes through
`muc.actions`, or — when this process runs the MUC service — through `muc.operations` on the
server's loop, so occupants see it on the wire (a configuration change is announced, an
affiliation change kicks or bans, a deleted room is destroyed with its occupants told)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from muc import actions, operations
from muc.engine.roles import MucError
from muc.models import Affiliation, HistoryMessage, RegisteredNick, Room
from xmppcore.jid import JID

LIVE_TIMEOUT = 10.0
log = logging.getLogger(__name__)


def _on_server(room_jid: str, make: Callable[[Any], Any]) -> bool:
    """Run `make(server)` (a coroutine) on the live service's loop once the admin's transaction
    has committed (its reads must not hold the database while the service writes); False when
    the service does not run in this process."""
    jid = JID.parse(room_jid)
    service = operations.live_service(jid.domain)
    if service is None:
        return False

    def run() -> None:
        try:
            asyncio.run_coroutine_threadsafe(make(service.server), service.loop).result(LIVE_TIMEOUT)
        except MucError as err:
            log.warning("admin change of %s refused: %s", room_jid, err)

    transaction.on_commit(run)
    return True


class AffiliationInline(admin.TabularInline):
    model = Affiliation
    extra = 1
    fields = ("jid", "affiliation", "reason")


class NickInline(admin.TabularInline):
    model = RegisteredNick
    extra = 0
    fields = ("jid", "nick")
    readonly_fields = ("jid", "nick")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # registration is the user's (muc#register)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("jid", "name", "public", "members_only", "moderated", "logging", "created_at")
    list_filter = ("public", "members_only", "moderated", "logging")
    search_fields = ("jid", "name", "description")
    inlines = (AffiliationInline, NickInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Room | None = None) -> Any:
        return ("jid", "created_at") if obj else ("created_at",)

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        config = actions.config_of(obj)
        changes = {k: v for k, v in config.to_dict().items() if k != "persistent"}
        if change and _on_server(obj.jid, lambda server: operations.configure(server, JID.parse(obj.jid), changes)):
            return
        obj.pk = actions.do_save_config(obj.jid, config, obj.subject)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        rows = formset.save(commit=False)  # nothing written here: through the actions below
        if formset.model is not Affiliation:
            return
        room = form.instance
        for gone in formset.deleted_objects:
            self._set(room.jid, gone.jid, "none", "")
        for row in rows:
            self._set(room.jid, row.jid, row.affiliation, row.reason)

    @staticmethod
    def _set(room_jid: str, user: str, affiliation: str, reason: str) -> None:
        bare = str(JID.parse(user).bare)
        if not _on_server(room_jid, lambda server: operations.set_affiliation(
                server, JID.parse(room_jid), JID.parse(bare), affiliation, reason)):
            actions.do_set_affiliation(room_jid, bare, affiliation, reason)

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        if not _on_server(obj.jid, lambda server: operations.destroy_room(server, JID.parse(obj.jid),
                                                                          "destroyed by an operator")):
            actions.do_delete_room(obj.jid)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in list(queryset):
            self.delete_model(request, room)


@admin.register(HistoryMessage)
class HistoryMessageAdmin(admin.ModelAdmin):
    list_display = ("room", "nick", "stamp")
    list_filter = ("room",)
    search_fields = ("nick", "stanza")
    readonly_fields = ("room", "nick", "stamp", "stanza")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: HistoryMessage | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: HistoryMessage) -> None:
        actions.do_delete_history([obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[HistoryMessage]) -> None:
        actions.do_delete_history(list(queryset.values_list("pk", flat=True)))
