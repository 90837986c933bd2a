"""Pubsub state: the only functions that write `pubsub.models`, and their readers.

Synchronous ORM code; the XMPP face (`pubsub.xmpp`) calls them through `xmppd.storage.db`,
the Django admin and the operator commands call them directly. Values in and out are the
engine's (`NodeView`, `Sub`), so no caller handles model instances.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any, Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from pubsub.engine import config as cfg
from pubsub.engine.node import NodeView, Sub
from pubsub.models import Affiliation, Item, Node, Subscription

log = logging.getLogger(__name__)
StoredItem = tuple[str, str, str]  # (item id, publisher, payload XML)


def is_pep_service(service: str) -> bool:
    return "@" in service


def _view(node: Node) -> NodeView:
    return NodeView(
        service=node.service, name=node.name, config={**cfg.default_config(pep=is_pep_service(node.service)),
                                                      **node.config},
        affiliations=dict(node.affiliations.values_list("jid", "affiliation")),
        subscriptions=[Sub(jid, subid, state, options) for jid, subid, state, options
                       in node.subscriptions.order_by("id").values_list("jid", "subid", "state", "options")],
        pep=is_pep_service(node.service))


def _node(service: str, name: str) -> Node | None:
    return Node.objects.filter(service=service, name=name).first()


# -- readers --------------------------------------------------------------------------

def load_node(service: str, name: str) -> NodeView | None:
    node = _node(service, name)
    return _view(node) if node is not None else None


def list_nodes(service: str) -> list[tuple[str, str]]:
    """(name, title) of every node of a service, by name (disco#items, §5.2)."""
    return [(n, c.get(cfg.TITLE, "") if isinstance(c, dict) else "")
            for n, c in Node.objects.filter(service=service).order_by("name").values_list("name", "config")]


def affiliations_of(service: str, jid: str) -> list[tuple[str, str]]:
    """§5.7: (node, affiliation) of one bare JID across a service."""
    return list(Affiliation.objects.filter(node__service=service, jid=jid)
                .order_by("node__name").values_list("node__name", "affiliation"))


def subscriptions_of(service: str, jid: str) -> list[tuple[str, str, str, str]]:
    """§5.6: (node, jid, subid, state) of one entity (its bare JID and full JIDs)."""
    bare = jid.split("/", 1)[0]
    rows = Subscription.objects.filter(node__service=service, jid__startswith=bare).order_by("node__name", "id")
    return [(n, j, s, st) for n, j, s, st in rows.values_list("node__name", "jid", "subid", "state")
            if j == bare or j.startswith(bare + "/")]


def _live(node: Node) -> Any:
    """The node's items not yet expired (§16.4 pubsub#item_expire), oldest first."""
    items = Item.objects.filter(node=node)
    expire = node.config.get(cfg.ITEM_EXPIRE)
    if expire:
        items = items.filter(published_at__gt=timezone.now() - timedelta(seconds=int(expire)))
    return items.order_by("id")


def get_items(service: str, name: str, ids: Sequence[str] | None = None,
              max_items: int | None = None) -> list[StoredItem]:
    """§6.5: the node's items oldest first; by id; or the `max_items` most recent (§6.5.7)."""
    node = _node(service, name)
    if node is None:
        return []
    items = _live(node)
    if ids is not None:
        items = items.filter(item_id__in=list(ids))
    rows = items.values_list("item_id", "publisher", "payload")
    if max_items is not None:
        rows = reversed(list(items.order_by("-id").values_list("item_id", "publisher", "payload")[:max_items]))
    return [tuple(r) for r in rows]  # type: ignore[misc]


def last_items(service: str, names: Sequence[str] | None = None) -> list[tuple[str, StoredItem]]:
    """The newest item of each node of a service (or of the named ones): (node, item)."""
    out = []
    nodes = Node.objects.filter(service=service)
    if names is not None:
        nodes = nodes.filter(name__in=list(names))
    for node in nodes.order_by("name"):
        row = _live(node).order_by("-id").values_list("item_id", "publisher", "payload").first()
        if row is not None:
            out.append((node.name, tuple(row)))
    return out  # type: ignore[return-value]


class ItemSource:
    """XEP-0059 `Source` over a node's items, oldest first, the item id as the UID (§6.5.4)."""

    def __init__(self, service: str, name: str) -> None:
        node = _node(service, name)
        self.rows = _live(node) if node is not None else Item.objects.none()

    def count(self) -> int:
        return self.rows.count()

    def position(self, uid: str) -> int | None:
        row = self.rows.filter(item_id=uid).values_list("id", flat=True).first()
        return None if row is None else self.rows.filter(id__lt=row).count()

    def slice(self, start: int, stop: int) -> list[StoredItem]:
        return [tuple(r) for r in self.rows.values_list("item_id", "publisher", "payload")[start:stop]]  # type: ignore[misc]

    def key(self, item: StoredItem) -> str:
        return item[0]


# -- writers --------------------------------------------------------------------------

class TooManyNodes(Exception):
    """The owner already has the most nodes allowed (XMPP_PUBSUB_MAX_NODES)."""


def count_owned(service: str, owner: str) -> int:
    """How many nodes of `service` `owner` owns (on an account: all of its PEP nodes)."""
    if is_pep_service(service):
        return Node.objects.filter(service=service).count()
    return Affiliation.objects.filter(node__service=service, jid=owner, affiliation="owner").count()


def do_create_node(service: str, name: str, config: dict[str, Any], owner: str | None,
                   creator: str = "", max_nodes: int = 0) -> NodeView | None:
    """A new node with `owner` (a bare JID) as its owner; None when the name is taken;
    TooManyNodes when the owner has `max_nodes` already (0: no limit)."""
    if max_nodes and owner is not None and count_owned(service, owner) >= max_nodes:
        raise TooManyNodes(owner)
    try:
        with transaction.atomic():
            node = Node.objects.create(service=service, name=name, config=config, creator=creator)
            if owner is not None:
                Affiliation.objects.create(node=node, jid=owner, affiliation="owner")
    except IntegrityError:
        return None
    return _view(node)


def do_configure_node(service: str, name: str, config: dict[str, Any]) -> NodeView | None:
    """Store a node's new configuration and apply max_items to its items at once."""
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(service=service, name=name).first()
        if node is None:
            return None
        node.config = config
        node.save(update_fields=["config"])
        _trim(node, cfg.max_items(config))
        return _view(node)


def do_delete_node(service: str, name: str) -> NodeView | None:
    """Delete a node with its items, subscriptions and affiliations; its last view, or None."""
    with transaction.atomic():
        node = _node(service, name)
        if node is None:
            return None
        view = _view(node)
        node.delete()
    return view


def do_purge_node(service: str, name: str) -> int:
    node = _node(service, name)
    if node is None:
        return 0
    deleted, _ = Item.objects.filter(node=node).delete()
    return deleted


def do_expire_items() -> int:
    """§16.4 pubsub#item_expire: delete the items older than their node's expiry (hidden from
    readers already, see `_live`); how many went. Run by the Celery beat task."""
    deleted = 0
    for node in Node.objects.filter(config__has_key=cfg.ITEM_EXPIRE).order_by("id"):
        expire = node.config.get(cfg.ITEM_EXPIRE)
        if not expire:
            continue
        cutoff = timezone.now() - timedelta(seconds=int(expire))
        count, _ = Item.objects.filter(node=node, published_at__lte=cutoff).delete()
        deleted += count
    return deleted


def new_item_id() -> str:
    """§7.1.1: a service-generated ItemID, unique within the node."""
    return uuid.uuid4().hex


def do_publish(service: str, name: str, item_id: str, payload: str, publisher: str) -> list[str]:
    """Store (or replace, §7.1.2) an item; the ids removed to honour max_items (§7.1.4)."""
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(service=service, name=name).first()
        if node is None:
            return []
        keep = cfg.max_items({**cfg.default_config(pep=is_pep_service(service)), **node.config})
        Item.objects.filter(node=node, item_id=item_id).delete()  # an overwrite moves to the end
        if keep:
            Item.objects.create(node=node, item_id=item_id, payload=payload, publisher=publisher)
        return _trim(node, keep)


def _trim(node: Node, keep: int) -> list[str]:
    old = list(Item.objects.filter(node=node).order_by("-id").values_list("id", "item_id")[keep:])
    if old:
        Item.objects.filter(id__in=[i for i, _ in old]).delete()
    return [item_id for _, item_id in old]


def do_retract(service: str, name: str, item_id: str) -> bool:
    deleted, _ = Item.objects.filter(node__service=service, node__name=name, item_id=item_id).delete()
    return bool(deleted)


def do_write_items(service: str, name: str, config: dict[str, Any], publish: Sequence[tuple[str, str]],
                   retract: Sequence[str]) -> tuple[NodeView | None, list[str]]:
    """A module's mirror write on a PEP node (the `pep/write` hook): the node created with
    `config` over the PEP defaults when missing, the items published (owner as publisher) and
    retracted in one transaction; the node and the ids actually retracted."""
    with transaction.atomic():
        node = load_node(service, name) or do_create_node(
            service, name, {**cfg.default_config(pep=True), **config}, service, service)
        for item_id, payload in publish:
            do_publish(service, name, item_id, payload, service)
        retracted = [item_id for item_id in retract if do_retract(service, name, item_id)]
        return node, retracted


def item_publisher(service: str, name: str, item_id: str) -> str | None:
    return Item.objects.filter(node__service=service, node__name=name, item_id=item_id) \
        .values_list("publisher", flat=True).first()


def do_subscribe(service: str, name: str, jid: str, state: str,
                 options: dict[str, Any] | None = None) -> Sub | None:
    """A new subscription of `jid` with a fresh SubID (§6.1.6); None when there is no node."""
    node = _node(service, name)
    if node is None:
        return None
    sub = Subscription.objects.create(node=node, jid=jid, subid=secrets.token_hex(8), state=state,
                                      options=options or {})
    return Sub(sub.jid, sub.subid, sub.state, sub.options)


def do_unsubscribe(service: str, name: str, jid: str, subid: str | None = None) -> int:
    rows = Subscription.objects.filter(node__service=service, node__name=name, jid=jid)
    if subid:
        rows = rows.filter(subid=subid)
    deleted, _ = rows.delete()
    return deleted


def do_set_subscription_options(service: str, name: str, subid: str, options: dict[str, Any]) -> bool:
    return bool(Subscription.objects.filter(node__service=service, node__name=name, subid=subid)
                .update(options=options))


def do_set_subscription(service: str, name: str, jid: str, state: str, subid: str | None = None) -> Sub | None:
    """§8.8.2: the owner sets an entity's subscription; 'none' removes it."""
    rows = Subscription.objects.filter(node__service=service, node__name=name, jid=jid)
    if subid:
        rows = rows.filter(subid=subid)
    if state == "none":
        rows.delete()
        return None
    if rows.exists():
        rows.update(state=state)
        row = rows.first()
        return Sub(row.jid, row.subid, row.state, row.options)
    return do_subscribe(service, name, jid, state)


def do_set_affiliation(service: str, name: str, jid: str, affiliation: str) -> bool:
    """§8.9.2: set a bare JID's affiliation ('none' removes it); False without the node."""
    node = _node(service, name)
    if node is None:
        return False
    with transaction.atomic():
        Affiliation.objects.filter(node=node, jid=jid).delete()
        if affiliation != "none":
            Affiliation.objects.create(node=node, jid=jid, affiliation=affiliation)
        if affiliation == "outcast":  # §4.1: an outcast has no subscription
            Subscription.objects.filter(node=node, jid__startswith=jid).delete()
    return True


def on_account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_delete of accounts.Account: its PEP nodes, subscriptions and affiliations go."""
    bare = f"{instance.username}@{instance.domain}"
    Node.objects.filter(service=bare).delete()
    Affiliation.objects.filter(jid=bare).delete()
    Subscription.objects.filter(jid=bare).delete()
    Subscription.objects.filter(jid__startswith=bare + "/").delete()


def last_items_for(services: Sequence[str], names: Sequence[str]) -> list[tuple[NodeView, StoredItem]]:
    """XEP-0163 §4.3.4: the newest item of each named node of each service (one trip)."""
    out = []
    for node in Node.objects.filter(service__in=list(services), name__in=list(names)).order_by("service", "name"):
        row = _live(node).order_by("-id").values_list("item_id", "publisher", "payload").first()
        if row is not None:
            out.append((_view(node), tuple(row)))
    return out  # type: ignore[return-value]


def last_items_on_presence(service: str, bare: str) -> list[tuple[NodeView, StoredItem, set[str]]]:
    """XEP-0060 §4.3 / §16.4 send_last_published_item = on_sub_and_presence: the newest item of
    each node of `service` where the account `bare` (its bare JID or one of its full JIDs) is
    subscribed, with the JIDs subscribed (one trip; read with the login's prefetch)."""
    out = []
    subscribed: dict[int, set[str]] = {}
    rows = Subscription.objects.filter(node__service=service, state="subscribed") \
        .filter(Q(jid=bare) | Q(jid__startswith=f"{bare}/")).values_list("node_id", "jid")
    for node_id, jid in rows:
        subscribed.setdefault(node_id, set()).add(jid)
    for node in Node.objects.filter(id__in=list(subscribed)).order_by("name"):
        view = _view(node)
        if view.config.get(cfg.SEND_LAST_ITEM) != "on_sub_and_presence" or not view.delivers:
            continue
        row = _live(node).order_by("-id").values_list("item_id", "publisher", "payload").first()
        if row is not None:
            out.append((view, tuple(row), subscribed[node.id]))
    return out  # type: ignore[return-value]


def node_summaries(service: str) -> list[dict[str, Any]]:
    """Operators' view of a service's nodes: name, title, access model, counts."""
    from django.db.models import Count

    rows = Node.objects.filter(service=service).annotate(
        n_items=Count("items", distinct=True), n_subs=Count("subscriptions", distinct=True)).order_by("name")
    return [{"node": n.name, "title": n.config.get(cfg.TITLE, ""),
             "access_model": n.config.get(cfg.ACCESS_MODEL) or cfg.default_config(
                 pep=is_pep_service(service))[cfg.ACCESS_MODEL],
             "items": n.n_items, "subscribers": n.n_subs} for n in rows]
