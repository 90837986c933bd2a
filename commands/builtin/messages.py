"""Messages from operators: one message, an announcement to online users (XEP-0133 §4.22),
an announcement to all users stored offline for those away (a Celery task), and the message
of the day (XEP-0133 §4.23-§4.25)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from commands import actions as cmd_actions
from commands import live
from commands.builtin._common import XEP0133, check_hosted_domain, hosted_domains
from commands.registry import Arg, Command, CommandError, Context
from xmppcore import ns
from xmppcore.jid import JID
from xmppcore.stanza import make
from xmppd.storage import db

MAX_BODY = 64 * 1024
BATCH = 200


def message_element(sender: JID | str, to: JID | str, body: str, subject: str = "",
                    type_: str = "normal") -> etree._Element:
    el = make("message", from_=sender, to=to, type_=type_)
    if subject:
        etree.SubElement(el, ns.q(ns.CLIENT, "subject")).text = subject
    etree.SubElement(el, ns.q(ns.CLIENT, "body")).text = body
    return el


async def send_message(ctx: Context, to: JID, body: str, sender: JID | None, subject: str,
                       type: str) -> None:
    """Routed like a client's message (RFC 6121 §8.5): online resources, else offline storage."""
    domains = hosted_domains()
    if sender is None:
        sender = JID(None, to.domain if to.domain in domains else domains[0], None)
    elif sender.domain not in domains:
        raise CommandError("bad-request", f"{sender.domain} is not hosted here",
                           fields={"sender": "must be on a domain this server hosts"})
    await live.route(ctx.server, message_element(sender, to, body, subject, type))


async def announce_online(ctx: Context, body: str, subject: str, domain: str | None) -> int:
    """XEP-0133 §4.22: to every available session (of `domain`); returns how many got it."""
    if domain is not None:
        check_hosted_domain(domain)
    sent = 0
    for session in ctx.server.sessions.all():
        if not session.is_available or (domain is not None and session.jid.domain != domain):
            continue
        if session.send(message_element(session.jid.domain, session.jid, body, subject)):
            sent += 1
    return sent


def announce_all(ctx: Context, body: str, subject: str, domain: str | None) -> dict[str, int]:
    """Every account (of `domain`): online ones now, the others from offline storage at their
    next login. A Celery task: progress per account, cancellable between accounts."""
    from accounts.models import Account

    domains = [check_hosted_domain(domain)] if domain is not None else hosted_domains()
    users = Account.objects.filter(domain__in=domains, is_active=True).order_by("id")
    total = users.count()
    done, last_id = 0, 0
    ctx.progress(0, total, "starting")
    while True:
        batch = list(users.filter(id__gt=last_id).values_list("id", "username", "domain")[:BATCH])
        if not batch:
            break
        for row_id, username, user_domain in batch:
            ctx.check_cancelled()
            el = message_element(user_domain, f"{username}@{user_domain}", body, subject)
            live.deliver(el)
            done += 1
            last_id = row_id
            ctx.progress(done, total, f"{done}/{total} users")
    return {"users": done}


async def _motd_changed(domain: str, subject: str, body: str | None) -> None:
    running = live.current()
    if running is not None:
        running.server.hooks.fire_sync("commands/motd-changed", domain, subject, body)


async def set_motd(ctx: Context, domain: str, body: str, subject: str) -> None:
    check_hosted_domain(domain)
    await db(cmd_actions.do_set_motd, domain, body, subject)
    await _motd_changed(domain, subject, body)


def get_motd(ctx: Context, domain: str) -> dict[str, Any]:
    motd = cmd_actions.get_motd(domain)
    if motd is None:
        raise CommandError("not-found", f"{domain} has no message of the day")
    return {"domain": motd.domain, "subject": motd.subject, "body": motd.body, "updated_at": motd.updated_at}


async def delete_motd(ctx: Context, domain: str) -> None:
    if not await db(cmd_actions.do_delete_motd, domain):
        raise CommandError("not-found", f"{domain} has no message of the day")
    await _motd_changed(domain, "", None)


BODY = Arg("body", "text", label="Message", min=1, max=MAX_BODY)
SUBJECT = Arg("subject", "string", label="Subject", required=False, default="", max=1024)
DOMAIN_FILTER = Arg("domain", "domain", label="Domain", required=False,
                    help="Only this domain (required for domain administrators).")
DOMAIN = Arg("domain", "domain", label="Domain")
COMMANDS = (
    Command("send_message", "Send a message from the server (or a local JID) to a JID.",
            (Arg("to", "jid", label="To"), BODY,
             Arg("sender", "jid", label="From", required=False, help="Default: the recipient's domain."),
             SUBJECT, Arg("type", "list-single", label="Type", required=False, default="normal",
                          choices=("normal", "chat", "headline"))),
            "none", "server_admin", send_message, category="messages", live=True),
    Command("announce_online", "Send an announcement to every online user.", (BODY, SUBJECT, DOMAIN_FILTER),
            "int", "domain_admin", announce_online, category="messages", live=True,
            xep0133_node=XEP0133 + "announce"),
    Command("announce_all", "Send an announcement to every user; those offline get it at their next login.",
            (BODY, SUBJECT, DOMAIN_FILTER), "dict", "domain_admin", announce_all, category="messages",
            long_running=True),
    Command("set_motd", "Set the message of the day, sent to each user of the domain at login.",
            (DOMAIN, BODY, SUBJECT), "none", "domain_admin", set_motd, category="messages",
            xep0133_node=XEP0133 + "set-motd"),
    Command("get_motd", "The domain's message of the day.", (DOMAIN,), "dict", "domain_admin", get_motd,
            category="messages", read_only=True),
    Command("delete_motd", "Delete the domain's message of the day.", (DOMAIN,), "none", "domain_admin",
            delete_motd, category="messages", xep0133_node=XEP0133 + "delete-motd"),
)
