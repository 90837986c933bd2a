"""Publish-subscribe maintenance (XEP-0060 service nodes and XEP-0163 PEP nodes): list nodes
and items, purge and delete nodes, through `pubsub.actions` (the same writers as the XMPP
face and the Django admin). Subscribers are not notified from here: the node is gone or empty
when they next ask (XEP-0060 §8.4, §8.5 notifications come from the XMPP face only)."""

from __future__ import annotations

from typing import Any

from commands.builtin._common import account_jid, check_hosted_domain
from commands.registry import Arg, Command, CommandError, Context
from xmppcore.jid import JID

NODE_COLUMNS = ("node", "title", "access_model", "items", "subscribers")


def service_of(domain: str) -> str:
    """The pubsub component of a hosted domain (XMPP_PUBSUB_HOST)."""
    from django.conf import settings

    check_hosted_domain(domain)
    template = settings.XMPP_PUBSUB_HOST
    if not template:
        raise CommandError("not-found", "the pubsub service is turned off (XMPP_PUBSUB_HOST)")
    return template.format(domain=domain).lower()


def pubsub_nodes(ctx: Context, domain: str) -> list[dict[str, Any]]:
    return _nodes(service_of(domain))


def pep_nodes(ctx: Context, jid: JID) -> list[dict[str, Any]]:
    return _nodes(str(account_jid(jid)))


def pubsub_items(ctx: Context, domain: str, name: str) -> list[dict[str, Any]]:
    return _items(service_of(domain), name)


def pep_items(ctx: Context, jid: JID, name: str) -> list[dict[str, Any]]:
    return _items(str(account_jid(jid)), name)


def pubsub_purge_node(ctx: Context, domain: str, name: str) -> int:
    return _purge(service_of(domain), name)


def pep_purge_node(ctx: Context, jid: JID, name: str) -> int:
    return _purge(str(account_jid(jid)), name)


def pubsub_delete_node(ctx: Context, domain: str, name: str) -> None:
    _delete(service_of(domain), name)


def pep_delete_node(ctx: Context, jid: JID, name: str) -> None:
    _delete(str(account_jid(jid)), name)


def _nodes(service: str) -> list[dict[str, Any]]:
    from pubsub.actions import node_summaries

    return node_summaries(service)


def _existing(service: str, name: str) -> None:
    from pubsub.actions import load_node

    if load_node(service, name) is None:
        raise CommandError("not-found", f"no node {name!r} on {service}")


def _items(service: str, name: str) -> list[dict[str, Any]]:
    from pubsub.actions import get_items

    _existing(service, name)
    return [{"id": i, "publisher": p, "payload": x} for i, p, x in get_items(service, name)]


def _purge(service: str, name: str) -> int:
    from pubsub.actions import do_purge_node

    _existing(service, name)
    return do_purge_node(service, name)


def _delete(service: str, name: str) -> None:
    from pubsub.actions import do_delete_node

    if do_delete_node(service, name) is None:
        raise CommandError("not-found", f"no node {name!r} on {service}")


NODE = Arg("name", "string", label="Node", max=1023)
DOMAIN = Arg("domain", "domain", label="Domain", help="The pubsub service of this domain (XMPP_PUBSUB_HOST).")
ACCOUNT = Arg("jid", "jid", label="Account", help="The account whose PEP nodes these are.")
ITEM_COLUMNS = ("id", "publisher", "payload")


def _family(prefix: str, where: Arg, fns: tuple[Any, Any, Any, Any], whose: str) -> tuple[Command, ...]:
    nodes, items, purge, delete = fns
    return (
        Command(f"{prefix}_nodes", f"The nodes of {whose}.", (where,), "table", "domain_admin", nodes,
                category="pubsub", read_only=True, columns=NODE_COLUMNS),
        Command(f"{prefix}_items", f"The items of a node of {whose}, oldest first.", (where, NODE), "table",
                "domain_admin", items, category="pubsub", read_only=True, columns=ITEM_COLUMNS),
        Command(f"{prefix}_purge_node", f"Remove every item of a node of {whose}; returns how many went.",
                (where, NODE), "int", "domain_admin", purge, category="pubsub"),
        Command(f"{prefix}_delete_node", f"Delete a node of {whose} with its items, subscriptions and "
                "affiliations.", (where, NODE), "none", "domain_admin", delete, category="pubsub"),
    )


COMMANDS = (
    *_family("pubsub", DOMAIN, (pubsub_nodes, pubsub_items, pubsub_purge_node, pubsub_delete_node),
             "a domain's pubsub service"),
    *_family("pep", ACCOUNT, (pep_nodes, pep_items, pep_purge_node, pep_delete_node), "an account (PEP)"),
)
