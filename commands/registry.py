"""The one registry of typed operator commands (ejabberd's commands behind ejabberdctl,
mod_http_api and XML-RPC): every face — XEP-0050 ad-hoc, XEP-0133, XEP-0009 Jabber-RPC,
XEP-0072 SOAP, the REST API, `manage.py xmppctl` — looks commands up here, validates with
`validate`, authorizes with `check_permission` and executes with `run`, so they never disagree.

Adding a command is one small file in `commands/builtin/` whose `COMMANDS` tuple lists its
`Command`s, named in `commands.builtin.MODULES` (registered in `AppConfig.ready()`).
Argument validation follows Data Forms Validation (XEP-0122 §3: datatypes, ranges, regex,
choices); failures are `CommandError("bad-request", ..., fields={name: message})`.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from xmppcore.jid import JID, InvalidJID

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
    Celery tasks (`commands.tasks`), report progress with `ctx.progress` and stop when
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

    @property
    def server(self) -> Any:
        """The `xmppd.server.Server` of this process (the running one inside `xmppd`)."""
        from xmppd.server import get_server

        return get_server()

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


# -- validation (XEP-0122) ------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# XML 1.0 §2.2 Char: what XMPP (and so a form, a message, a JID) can carry.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _as_text(arg: Arg, value: Any) -> str:
    if isinstance(value, (list, tuple)) and arg.type == "text":
        value = "\n".join(str(v) for v in value)  # XEP-0004 text-multi: one <value/> per line
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _NOT_XML.search(value):
        raise ValueError("contains characters XML cannot carry")
    return value


def _check_length(arg: Arg, n: int, what: str) -> None:
    if arg.min is not None and n < arg.min:
        raise ValueError(f"must have at least {arg.min} {what}")
    if arg.max is not None and n > arg.max:
        raise ValueError(f"must have at most {arg.max} {what}")


def _parse_jid(value: Any) -> JID:
    if isinstance(value, JID):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a JID")
    if _NOT_XML.search(value):
        raise ValueError("contains characters XML cannot carry")
    try:
        jid = JID.parse(value.strip())
        # A JID must survive its own text form (stanzas carry it as text): some non-ASCII
        # domains map to ASCII that RFC 7622 §3.2 refuses.
        if JID.parse(str(jid)) != jid:
            raise InvalidJID("its normalized form is a different JID")
    except InvalidJID as exc:
        raise ValueError(f"is not a valid JID: {exc}") from None
    return jid


def _coerce(arg: Arg, value: Any) -> Any:
    """One value to its Python type; ValueError with a message for the field."""
    t = arg.type
    if t in ("string", "text", "password"):
        text = _as_text(arg, value)
        if t != "password":
            text = text.strip() if t == "string" else text
        _check_length(arg, len(text), "characters")
        if arg.choices and text not in arg.choices:
            raise ValueError(f"must be one of {', '.join(arg.choices)}")
        return text
    if t == "int":
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError("must be an integer")
        try:
            number = int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError("must be an integer") from None
        if arg.min is not None and number < arg.min:
            raise ValueError(f"must be at least {arg.min}")
        if arg.max is not None and number > arg.max:
            raise ValueError(f"must be at most {arg.max}")
        return number
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("must be a boolean (true or false)")
    if t == "jid":
        return _parse_jid(value)
    if t == "jids":
        items = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError("must be a list of JIDs")
        jids = list(dict.fromkeys(_parse_jid(v) for v in items if v != ""))
        _check_length(arg, len(jids), "JIDs")
        return jids
    if t == "domain":
        jid = _parse_jid(value)
        if not jid.is_domain:
            raise ValueError("must be a domain name, not a JID")
        return jid.domain
    if t == "list-single":
        text = _as_text(arg, value).strip()
        if text not in arg.choices:
            raise ValueError(f"must be one of {', '.join(arg.choices)}")
        return text
    if t == "list-multi":
        items = [v for v in re.split(r"[\s,]+", value.strip()) if v] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise ValueError("must be a list of strings")
        bad = [v for v in items if v not in arg.choices]
        if bad:
            raise ValueError(f"{', '.join(bad)} not among {', '.join(arg.choices)}")
        _check_length(arg, len(items), "choices")
        return list(dict.fromkeys(items))
    if t == "datetime":
        return _parse_datetime(value)
    raise ValueError(f"unsupported type {t}")  # unreachable: Arg checks its type


def _parse_datetime(value: Any) -> datetime:
    """XEP-0082 DateTime (ISO 8601, 'Z' or an offset); a naive value is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be a date and time (XEP-0082, e.g. 2024-01-31T12:00:00Z)") from None
    else:
        raise ValueError("must be a date and time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and len(value) == 0)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "text": (str,), "password": (str,), "jid": (str,), "domain": (str,),
    "list-single": (str,), "datetime": (str,), "int": (int,), "bool": (bool,),
    "jids": (list,), "list-multi": (list,),
}


def _check_json_type(arg: Arg, value: Any) -> None:
    """strict (JSON) mode: the value has the JSON type the schema documents, no coercion."""
    if value is None:
        raise ValueError("may not be null (leave it out instead)")
    if not isinstance(value, _JSON_TYPES[arg.type]) or (arg.type == "int" and isinstance(value, bool)):
        kind = {"int": "an integer", "bool": "a boolean", "jids": "a list", "list-multi": "a list"}
        raise ValueError(f"must be {kind.get(arg.type, 'a string')}")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")


def validate(cmd: Command, raw: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """Coerce and check `raw` against `cmd.args` (XEP-0122); returns the keyword arguments
    for `cmd.fn`. Missing optional arguments get their default; unknown ones are refused.
    Raises CommandError("bad-request", ..., fields={name: message}) listing every bad field.

    `strict` (JSON bodies): values must already have their JSON type (no "5" for 5, no null).
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    known = {a.name for a in cmd.args}
    for name in raw:
        if name not in known:
            errors[name] = "unknown argument"
    for arg in cmd.args:
        value = raw.get(arg.name)
        if strict and arg.name in raw:
            try:
                _check_json_type(arg, value)
            except ValueError as exc:
                errors[arg.name] = str(exc)
                continue
        # strict mode: "" for an optional argument is a value to check, not an omission.
        is_missing = value is None or (_is_empty(value) and arg.type != "bool"
                                       and not (strict and value == "" and not arg.required))
        if is_missing:
            if arg.required and arg.default is None:
                errors[arg.name] = "is required"
                continue
            value = arg.default
            if value is None:
                out[arg.name] = [] if arg.type in ("jids", "list-multi") else None
                continue
        try:
            out[arg.name] = _coerce(arg, value)
        except ValueError as exc:
            errors[arg.name] = str(exc)
            continue
        if arg.regex is not None and isinstance(out[arg.name], str):
            if re.fullmatch(arg.regex, out[arg.name]) is None:
                errors[arg.name] = f"does not match {arg.regex}"
    if errors:
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise CommandError("bad-request", f"invalid arguments ({detail})", fields=errors)
    return out


# -- authorization --------------------------------------------------------------------

def _scope_domains(cmd: Command, args: dict[str, Any]) -> list[str]:
    out = []
    for name in SCOPE_ARGS:
        value = args.get(name)
        if isinstance(value, JID):
            out.append(value.domain)
        elif isinstance(value, str) and value:
            out.append(value if name == "domain" else _parse_jid(value).domain)
    return out


def _scope_jids(args: dict[str, Any]) -> list[JID]:
    return [args[n].bare for n in ("jid", "user") if isinstance(args.get(n), JID)]


def check_permission(cmd: Command, actor: Actor, args: dict[str, Any]) -> None:
    """Raise CommandError("forbidden") unless `actor` may run `cmd` with validated `args`."""
    if actor.read_only and not cmd.read_only:
        raise CommandError("forbidden", f"{cmd.name} changes state; this credential is read-only")
    if actor.is_server_admin:
        return
    domains = _scope_domains(cmd, args)
    if cmd.permission == "server_admin":
        raise CommandError("forbidden", f"{cmd.name} is for server administrators")
    if cmd.permission == "domain_admin":
        if domains and all(d in actor.admin_domains for d in domains):
            return
        if not domains:
            raise CommandError("forbidden", f"{cmd.name} needs a domain you administer "
                                            "(or server administrator rights)")
        raise CommandError("forbidden", f"you do not administer {', '.join(sorted(set(domains)))}")
    # "user": on one's own account, or as an admin of that account's domain. Without a scope
    # argument the command acts on the actor itself (its function checks ownership).
    if not domains:
        return
    if all(d in actor.admin_domains for d in domains):
        return
    own = _scope_jids(args)
    if actor.jid is not None and own and all(j == actor.jid.bare for j in own):
        return
    raise CommandError("forbidden", f"{cmd.name} may only be run on your own account")


def parse_domain_admins(text: str) -> dict[str, frozenset[JID]]:
    """`XMPP_DOMAIN_ADMINS`: "domain=jid1 jid2;domain2=jid3" → {domain: {bare JIDs}}."""
    out: dict[str, frozenset[JID]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        domain, _, jids = part.partition("=")
        parsed = frozenset(JID.parse(j).bare for j in re.split(r"[\s,]+", jids.strip()) if j)
        key = JID.parse(domain.strip()).domain
        out[key] = out.get(key, frozenset()) | parsed
    return out


def actor_for_jid(jid: JID, source: str = "adhoc") -> Actor:
    """The Actor for an XMPP entity: server admin when its bare JID is in `XMPP_ADMINS`,
    domain admin of the domains `XMPP_DOMAIN_ADMINS` lists it for (read at each call, so a
    `reload` takes effect)."""
    from commands.settings import admin_jids, domain_admins

    bare = jid.bare
    domains = frozenset(d for d, jids in domain_admins().items() if bare in jids)
    return Actor(jid=bare, is_server_admin=bare in admin_jids(), admin_domains=domains, source=source)


# -- execution ------------------------------------------------------------------------

def to_json(value: Any) -> Any:
    """A result or argument as JSON values: JIDs as strings, datetimes in XEP-0082 form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, JID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return str(value)


async def call(cmd: Command, ctx: Context, args: dict[str, Any]) -> Any:
    """Call `cmd.fn`: coroutine functions on the loop, plain (ORM) ones in the DB thread."""
    if inspect.iscoroutinefunction(cmd.fn):
        return await cmd.fn(ctx, **args)
    from xmppd.storage import db

    result = await db(cmd.fn, ctx, **args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def run(name: str, actor: Actor, raw_args: dict[str, Any], *, strict: bool = False) -> Any:
    """Validate, authorize and execute. A long-running command is recorded as a
    CommandRun, enqueued on commit, and answered at once with {"task_id": <run id>}."""
    cmd = get(name)
    args = validate(cmd, raw_args, strict=strict)
    check_permission(cmd, actor, args)
    if cmd.long_running:
        from commands.tasks import enqueue
        from xmppd.storage import db

        run_id = await db(enqueue, cmd, actor, raw_args)
        return {"task_id": run_id}
    return await call(cmd, Context(actor=actor, command=cmd), args)
