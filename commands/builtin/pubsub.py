"""Publish-subscribe maintenance (XEP-0060 service nodes and XEP-0163 PEP nodes): list nodes
and items through `pubsub.actions`; purge and delete nodes through `pubsub.operations`, which
write with the same actions and, when the server runs in this process, notify the subscribers
as the XMPP face does (XEP-0060 §8.5.2 <purge/>, §8.4.2 <delete/>)."""

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


async def pubsub_purge_node(ctx: Context, domain: str, name: str) -> int:
    return await _purge(service_of(domain), name)


async def pep_purge_node(ctx: Context, jid: JID, name: str) -> int:
    return await _purge(str(account_jid(jid)), name)


async def pubsub_delete_node(ctx: Context, domain: str, name: str) -> None:
    await _delete(service_of(domain), name)


async def pep_delete_node(ctx: Context, jid: JID, name: str) -> None:
    await _delete(str(account_jid(jid)), name)


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


async def _purge(service: str, name: str) -> int:
    from pubsub.operations import purge_node

    count = await purge_node(service, name)
    if count is None:
        raise CommandError("not-found", f"no node {name!r} on {service}")
    return count


async def _delete(service: str, name: str) -> None:
    from pubsub.operations import delete_node

    if not await delete_node(service, name):
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
