"""Pubsub in the Django admin: nodes (purge and delete actions), items, subscriptions and
affiliations. Every change goes through `pubsub.actions` — purge, node and item deletion
through `pubsub.operations` on the server's loop when this process runs it, so subscribers
get <purge/>, <delete/> and <retract/> on the wire; the protocol is the only way to
publish or configure (its rules live in the engine), so rows are shown read-only."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from pubsub import actions, operations
from pubsub.models import Affiliation, Item, Node, Subscription


def _through_server(operation: Callable[..., Awaitable[Any]], fallback: Callable[..., Any], *args: Any) -> Any:
    """`operation(*args)` on the running server's loop once the admin's transaction has
    committed (the server writes from its own DB thread); `fallback(*args)` (the action
    itself, nobody to notify here) when the server does not run in this process."""
    live = operations.live()
    if live is None:
        return fallback(*args)
    results: list[Any] = []
    transaction.on_commit(lambda: results.append(live.call(operation, *args)))
    return results[0] if results else None


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Node)
class NodeAdmin(ReadOnly):
    list_display = ("name", "service", "created_at", "creator")
    list_filter = ("created_at",)
    search_fields = ("name", "service")
    readonly_fields = ("service", "name", "config", "created_at", "creator")
    actions = ("purge_nodes",)

    @admin.action(description="Purge the items of the selected nodes")
    def purge_nodes(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        count = sum(_through_server(operations.purge_node, actions.do_purge_node, s, n) or 0
                    for s, n in queryset.values_list("service", "name"))
        self.message_user(request, f"{count} item(s) removed.", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Node) -> None:
        _through_server(operations.delete_node, actions.do_delete_node, obj.service, obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Node]) -> None:
        for service, name in list(queryset.values_list("service", "name")):
            _through_server(operations.delete_node, actions.do_delete_node, service, name)


@admin.register(Item)
class ItemAdmin(ReadOnly):
    list_display = ("item_id", "node", "publisher", "published_at")
    search_fields = ("item_id", "node__name", "node__service", "publisher")
    readonly_fields = ("node", "item_id", "publisher", "payload", "published_at")

    def delete_model(self, request: HttpRequest, obj: Item) -> None:
        _through_server(operations.retract_item, actions.do_retract, obj.node.service, obj.node.name, obj.item_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        for service, name, item_id in list(queryset.values_list("node__service", "node__name", "item_id")):
            _through_server(operations.retract_item, actions.do_retract, service, name, item_id)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnly):
    list_display = ("jid", "node", "state", "subid")
    list_filter = ("state",)
    search_fields = ("jid", "node__name", "node__service")
    readonly_fields = ("node", "jid", "subid", "state", "options")

    def delete_model(self, request: HttpRequest, obj: Subscription) -> None:
        actions.do_unsubscribe(obj.node.service, obj.node.name, obj.jid, obj.subid)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for service, name, jid, subid in queryset.values_list("node__service", "node__name", "jid", "subid"):
            actions.do_unsubscribe(service, name, jid, subid)


@admin.register(Affiliation)
class AffiliationAdmin(ReadOnly):
    list_display = ("jid", "affiliation", "node")
    list_filter = ("affiliation",)
    search_fields = ("jid", "node__name", "node__service")
    readonly_fields = ("node", "jid", "affiliation")

    def delete_model(self, request: HttpRequest, obj: Affiliation) -> None:
        actions.do_set_affiliation(obj.node.service, obj.node.name, obj.jid, "none")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Affiliation]) -> None:
        for service, name, jid in queryset.values_list("node__service", "node__name", "jid"):
            actions.do_set_affiliation(service, name, jid, "none")
