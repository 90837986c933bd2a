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


def _service(domain: str | None, jid: JID | None) -> str:
    if jid is not None:
        return str(account_jid(jid))
    if domain is None:
        raise CommandError("bad-request", "give a domain or a jid", fields={"domain": "or a jid"})
    return service_of(domain)


def pubsub_nodes(ctx: Context, domain: str | None = None, jid: JID | None = None) -> list[dict[str, Any]]:
    from pubsub.actions import node_summaries

    return node_summaries(_service(domain, jid))


def pubsub_items(ctx: Context, node: str, domain: str | None = None, jid: JID | None = None) -> list[dict[str, Any]]:
    from pubsub.actions import get_items, load_node

    service = _service(domain, jid)
    if load_node(service, node) is None:
        raise CommandError("not-found", f"no node {node!r} on {service}")
    return [{"id": i, "publisher": p, "payload": x} for i, p, x in get_items(service, node)]


def pubsub_purge_node(ctx: Context, node: str, domain: str | None = None, jid: JID | None = None) -> int:
    from pubsub.actions import do_purge_node, load_node

    service = _service(domain, jid)
    if load_node(service, node) is None:
        raise CommandError("not-found", f"no node {node!r} on {service}")
    return do_purge_node(service, node)


def pubsub_delete_node(ctx: Context, node: str, domain: str | None = None, jid: JID | None = None) -> None:
    from pubsub.actions import do_delete_node

    service = _service(domain, jid)
    if do_delete_node(service, node) is None:
        raise CommandError("not-found", f"no node {node!r} on {service}")


NODE = Arg("node", "string", label="Node", max=1023)
WHERE = (Arg("domain", "domain", label="Domain", required=False, help="The pubsub service of this domain."),
         Arg("jid", "jid", label="Account", required=False, help="Or this account's PEP nodes."))
COMMANDS = (
    Command("pubsub_nodes", "The nodes of a domain's pubsub service or of an account (PEP).", WHERE,
            "table", "domain_admin", pubsub_nodes, category="pubsub", read_only=True, columns=NODE_COLUMNS),
    Command("pubsub_items", "The items of a node, oldest first.", (NODE, *WHERE), "table", "domain_admin",
            pubsub_items, category="pubsub", read_only=True, columns=("id", "publisher", "payload")),
    Command("pubsub_purge_node", "Remove every item of a node; returns how many went.", (NODE, *WHERE),
            "int", "domain_admin", pubsub_purge_node, category="pubsub"),
    Command("pubsub_delete_node", "Delete a node with its items, subscriptions and affiliations.",
            (NODE, *WHERE), "none", "domain_admin", pubsub_delete_node, category="pubsub"),
)
