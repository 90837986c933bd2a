"""The catalogue of typed operator commands (ejabberd's commands behind ejabberdctl,
mod_http_api and XML-RPC): declarations only — what a command is called, takes, returns and
who may run it. Every face — XEP-0050 ad-hoc, XEP-0133, XEP-0009 Jabber-RPC, XEP-0072 SOAP,
the REST API, `manage.py xmppctl` — looks commands up here, validates with
`commands.validation`, authorizes with `commands.permissions` and executes with
`commands.execution`, so they never disagree. This module imports nothing of the server.

Adding a command is one small file in `commands/builtin/` whose `COMMANDS` tuple lists its
`Command`s, named in `commands.builtin.MODULES` (registered in `AppConfig.ready()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from xmppcore.jid import JID

ARG_TYPES = frozenset({"string", "text", "int", "bool", "jid", "jids", "password", "list-single",
                       "list-multi", "datetime", "domain"})
RESULT_SHAPES = frozenset({"none", "string", "int", "list", "table", "dict"})
PERMISSIONS = frozenset({"server_admin", "domain_admin", "user"})
ERROR_CODES = frozenset({"not-found", "forbidden", "bad-request", "conflict", "internal"})
# Arguments that name the account or domain a command acts on: a domain admin must administer
# their domain, a user must be their own bare JID.
SCOPE_ARGS = ("jid", "user", "domain")


@dataclass(frozen=True)
class Arg:
    """One typed argument. Types map onto XEP-0004 field types and XEP-0122 datatypes:
    string/password → text-single/text-private, text → text-multi, int → xs:integer,
    bool → boolean, jid/jids → jid-single/jid-multi, datetime → xs:dateTime (XEP-0082),
    domain → a JID domainpart, list-single/list-multi → with `choices`.

    `min`/`max` bound an int's value, a string's length, or the number of jids/choices.
    """

    name: str
    type: str
    label: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    regex: str | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in ARG_TYPES:
            raise ValueError(f"argument {self.name}: unknown type {self.type!r}")
        if self.type in ("list-single", "list-multi") and not self.choices:
            raise ValueError(f"argument {self.name}: {self.type} needs choices")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Command:
    """A typed operator command. `fn(ctx, **validated_args)` returns the result shape named by
    `result`: none → None, string → str, int → int, list → list[str], table → list[dict]
    (keys: `columns`), dict → dict[str, scalar | list].

    permission: "server_admin"; "domain_admin" (server admins too; the scope arguments —
    jid/user/domain — must be in a domain the actor administers); "user" (the scope argument
    must be the actor's own bare JID; admins of that domain may run it for anyone; with no
    scope argument given, the function acts on `ctx.actor` itself and checks ownership).
    `live` commands need the running server (`ctx.server`); `read_only` ones change nothing
    (read-only API tokens may run them; REST serves them on GET). `long_running` ones run as
    Celery tasks (`commands.execution`), report progress with `ctx.progress` and stop when
    `ctx.check_cancelled()` raises.
    """

    name: str
    description: str
    args: tuple[Arg, ...]
    result: str
    permission: str
    fn: Callable[..., Any]
    long_running: bool = False
    xep0133_node: str | None = None
    category: str = "accounts"
    live: bool = False
    read_only: bool = False
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.result not in RESULT_SHAPES:
            raise ValueError(f"command {self.name}: unknown result shape {self.result!r}")
        if self.permission not in PERMISSIONS:
            raise ValueError(f"command {self.name}: unknown permission {self.permission!r}")
        names = [a.name for a in self.args]
        if len(names) != len(set(names)):
            raise ValueError(f"command {self.name}: duplicate argument names")

    def arg(self, name: str) -> Arg | None:
        for a in self.args:
            if a.name == name:
                return a
        return None


@dataclass
class Actor:
    """Who runs a command, and from which face. `jid` is a bare JID (None for the shell and
    for API tokens not tied to a user); `read_only` comes from read-only API tokens."""

    jid: JID | None
    is_server_admin: bool
    admin_domains: frozenset[str]
    source: str  # "rest" | "adhoc" | "cli" | "rpc" | "soap"
    read_only: bool = False
    label: str = ""  # "token:<id>" for API tokens: who owns the runs it starts

    def administers(self, domain: str) -> bool:
        return self.is_server_admin or domain in self.admin_domains

    @property
    def owner(self) -> str:
        """Who may see and cancel the runs this actor starts (besides server admins)."""
        if self.label:
            return self.label
        return f"jid:{self.jid}" if self.jid is not None else self.source

    def as_dict(self) -> dict[str, Any]:
        return {"jid": str(self.jid) if self.jid else None, "is_server_admin": self.is_server_admin,
                "admin_domains": sorted(self.admin_domains), "source": self.source,
                "read_only": self.read_only, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Actor":
        jid = data.get("jid")
        return cls(jid=JID.parse(jid) if jid else None, is_server_admin=bool(data.get("is_server_admin")),
                   admin_domains=frozenset(data.get("admin_domains") or ()), source=data.get("source", ""),
                   read_only=bool(data.get("read_only")), label=data.get("label", ""))


class CommandError(Exception):
    """A command that cannot run: code is one of not-found, forbidden, bad-request,
    conflict, internal; `fields` maps argument names to messages (bad-request)."""

    def __init__(self, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = self.fields
        return out


class Cancelled(Exception):
    """Raised by `Context.check_cancelled` when an operator cancelled a long command."""


@dataclass
class Context:
    """What a command function receives besides its arguments.

    `run_id` is the CommandRun of a long-running command (None otherwise); `progress` and
    `check_cancelled` are no-ops for direct calls.
    """

    actor: Actor
    command: Command
    run_id: str | None = None
    on_progress: Callable[[int, int, str], None] | None = None
    is_cancelled: Callable[[], bool] | None = None
    # The one "current server" lookup (`commands.live.current`), given by the
    # executor: the catalogue does not know the server.
    find_server: Callable[[], Any] | None = None

    @property
    def server(self) -> Any:
        """The `xmppd.server.Server` of this process (the running one inside `xmppd`)."""
        if self.find_server is None:
            raise RuntimeError(f"{self.command.name}: no server lookup in this context")
        return self.find_server()

    def progress(self, done: int, total: int, note: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, note)

    def check_cancelled(self) -> None:
        if self.is_cancelled is not None and self.is_cancelled():
            raise Cancelled(f"{self.command.name} was cancelled")


_REGISTRY: dict[str, Command] = {}


def register(cmd: Command) -> Command:
    """Add `cmd`; a second command with the same name is a programming error."""
    existing = _REGISTRY.get(cmd.name)
    if existing is not None and existing is not cmd:
        raise ValueError(f"command {cmd.name!r} is already registered")
    _REGISTRY[cmd.name] = cmd
    return cmd


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Command:
    """The command called `name`, or CommandError("not-found")."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise CommandError("not-found", f"no command {name!r}") from None


def all_commands() -> list[Command]:
    return sorted(_REGISTRY.values(), key=lambda c: (c.category, c.name))


def by_xep0133_node(node: str) -> Command | None:
    for cmd in _REGISTRY.values():
        if cmd.xep0133_node == node:
            return cmd
    return None
