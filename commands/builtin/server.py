"""Server-wide commands: statistics and the reload of reloadable settings."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from commands import settings as cmd_settings
from commands.registry import Command, CommandError, Context
from xmppd.storage import db


def _count_accounts() -> dict[str, int]:
    from django.db.models import Count

    from accounts.models import Account

    return {row["domain"]: row["n"] for row in Account.objects.values("domain").annotate(n=Count("id"))}


async def stats(ctx: Context) -> dict[str, Any]:
    server = ctx.server
    by_domain = await db(_count_accounts)
    sessions = server.sessions.all()
    rates = server.hooks.fire_sync("commands/stanza-rates") or {}
    return {
        "registered_users": sum(by_domain.values()),
        "registered_users_by_domain": by_domain,
        "online_sessions": len(sessions),
        "online_users": len({s.bare for s in sessions}),
        "sessions_by_transport": dict(Counter(s.transport for s in sessions)),
        "stanzas_in": server.stats.get("stanzas_in", 0),
        "stanzas_out": server.stats.get("stanzas_out", 0),
        "stanzas_in_per_second": rates.get("stanzas_in_per_second", 0.0),
        "stanzas_out_per_second": rates.get("stanzas_out_per_second", 0.0),
        "uptime_seconds": round(time.time() - server.started_at, 1),
    }


# -- reload -----------------------------------------------------------------------------

def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# Environment variable -> (Config field, parser). What a running server can change without a
# restart: each is read where it is used (new connections, the next registration, ...).
RELOADABLE: dict[str, tuple[str, Callable[[str], Any]]] = {
    "XMPP_ALLOW_REGISTRATION": ("allow_registration", _bool),
    "XMPP_REQUIRE_TLS": ("require_tls", _bool),
    "XMPP_OFFLINE_QUOTA": ("offline_quota", int),
    "XMPP_MAX_STANZA_SIZE": ("max_stanza_size", int),
    "XMPP_MAX_DEPTH": ("max_depth", int),
    "XMPP_PING_INTERVAL": ("ping_interval", float),
    "XMPP_PING_TIMEOUT": ("ping_timeout", float),
    "XMPP_AUTH_FAILURE_DELAY_MAX": ("auth_failure_delay_max", float),
    "XMPP_ADMINS": ("admins", _list),
}


def env_file() -> Path:
    """XMPP_ENV_FILE: KEY=VALUE lines that a reload reads over the process environment."""
    from django.conf import settings

    return Path(getattr(settings, "XMPP_ENV_FILE", "") or Path(settings.XMPP_DATA_DIR) / "xmppd.env")


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        values[key] = value.strip().strip("'\"")
    return values


def reload_values() -> dict[str, str]:
    """The environment as a reload sees it: the process's, overridden by XMPP_ENV_FILE."""
    values = {k: v for k, v in os.environ.items() if k in RELOADABLE or k == "XMPP_DOMAIN_ADMINS"}
    values.update(read_env_file(env_file()))
    return values


async def reload(ctx: Context) -> dict[str, Any]:
    """Re-read the reloadable settings into the running server; returns what changed."""
    server = ctx.server
    values = reload_values()
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (field, parse) in RELOADABLE.items():
        if name in values:
            try:
                parsed[field] = parse(values[name])
            except ValueError as exc:
                errors[name] = str(exc)
    if errors:
        raise CommandError("bad-request", "invalid settings: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
                           fields=errors)
    changed: dict[str, Any] = {}
    for field, value in parsed.items():
        old = getattr(server.config, field)
        if old != value:
            setattr(server.config, field, value)
            changed[field] = {"old": old, "new": value}
    if "admins" in parsed:
        cmd_settings.set_override("XMPP_ADMINS", parsed["admins"])
    if "XMPP_DOMAIN_ADMINS" in values:
        cmd_settings.set_override("XMPP_DOMAIN_ADMINS", values["XMPP_DOMAIN_ADMINS"])
    return {"changed": changed, "source": str(env_file())}


COMMANDS = (
    Command("stats", "Server statistics: users, sessions by transport, stanzas per second, uptime.", (),
            "dict", "server_admin", stats, category="server", live=True, read_only=True),
    Command("reload", "Re-read the reloadable settings (environment and XMPP_ENV_FILE) into the running "
                      "server: " + ", ".join(sorted(RELOADABLE)) + ", XMPP_DOMAIN_ADMINS.",
            (), "dict", "server_admin", reload, category="server", live=True),
)
