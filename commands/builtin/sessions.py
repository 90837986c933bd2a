"""Online sessions: list them (with their transport), count them, end one or all of a user's
(XEP-0133 §4.14 end-user-session, §4.19-§4.21; ejabberd's connected_users, kick_session)."""

from __future__ import annotations

import time
from typing import Any

from commands.builtin._common import XEP0133, check_hosted_domain
from commands.registry import Arg, Command, CommandError, Context
from xmppcore.jid import JID

KICK_CONDITION = "policy-violation"  # RFC 6120 §4.9.3.18: the entity broke a local service policy


def _session_row(session: Any, now: float) -> dict[str, Any]:
    """One session; a session bound on another cluster node has transport "remote" and no
    connection time known here."""
    connected = round(max(now - session.connected_at, 0.0), 1) if session.connected_at else None
    return {"jid": str(session.jid), "transport": session.transport, "ip": session.ip,
            "priority": session.priority, "available": session.is_available, "connected_seconds": connected}


def _sessions(ctx: Context, domain: str | None) -> list[Any]:
    if domain is not None:
        check_hosted_domain(domain)
    sessions = ctx.server.sessions.all()
    if domain is not None:
        sessions = [s for s in sessions if s.jid.domain == domain]
    return sorted(sessions, key=lambda s: str(s.jid))


async def list_sessions(ctx: Context, domain: str | None) -> list[dict[str, Any]]:
    now = time.monotonic()
    return [_session_row(s, now) for s in _sessions(ctx, domain)]


async def count_sessions(ctx: Context, domain: str | None) -> int:
    return len(_sessions(ctx, domain))


async def list_online_users(ctx: Context, domain: str | None) -> list[str]:
    return sorted({str(s.bare) for s in _sessions(ctx, domain)})


async def user_sessions(ctx: Context, jid: JID) -> list[dict[str, Any]]:
    now = time.monotonic()
    return [_session_row(s, now) for s in sorted(ctx.server.sessions.resources(jid.bare), key=lambda s: str(s.jid))]


async def kick_session(ctx: Context, jid: JID) -> int:
    """A full JID ends that session, a bare JID every session of the user, each with a
    <policy-violation/> stream error; not-found when there is none."""
    server = ctx.server
    if jid.resource is not None:
        session = server.sessions.get(jid)
        sessions = [session] if session is not None else []
    else:
        sessions = server.sessions.resources(jid)
    if not sessions:
        raise CommandError("not-found", f"no session of {jid} is online")
    for session in sessions:
        session.closer(KICK_CONDITION)
    return len(sessions)


DOMAIN_FILTER = Arg("domain", "domain", label="Domain", required=False,
                    help="Only this domain (required for domain administrators).")
COMMANDS = (
    Command("list_sessions", "List the online sessions with their transport, address and priority.",
            (DOMAIN_FILTER,), "table", "domain_admin", list_sessions, category="sessions", live=True,
            read_only=True, columns=("jid", "transport", "ip", "priority", "available", "connected_seconds")),
    Command("count_sessions", "Count the online sessions.", (DOMAIN_FILTER,), "int", "domain_admin",
            count_sessions, category="sessions", live=True, read_only=True,
            xep0133_node=XEP0133 + "get-online-users-num"),
    Command("list_online_users", "List the users with at least one online session.", (DOMAIN_FILTER,),
            "list", "domain_admin", list_online_users, category="sessions", live=True, read_only=True,
            xep0133_node=XEP0133 + "get-online-users-list"),
    Command("user_sessions", "List one user's online sessions.", (Arg("jid", "jid", label="The account"),),
            "table", "user", user_sessions, category="sessions", live=True, read_only=True,
            columns=("jid", "transport", "ip", "priority", "available", "connected_seconds")),
    Command("kick_session", "End a session (full JID) or all of a user's sessions (bare JID).",
            (Arg("jid", "jid", label="Session or account", help="user@domain/resource, or user@domain for all"),),
            "int", "domain_admin", kick_session, category="sessions", live=True,
            xep0133_node=XEP0133 + "end-user-session"),
)
