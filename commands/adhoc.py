"""XEP-0050: Ad-Hoc Commands, with XEP-0133: Service Administration, over the command registry.

Every registry command is a command node of each hosted domain: its node is the command's
name, or its XEP-0133 node URI (`Command.xep0133_node`), whose form then uses the field
names XEP-0133 §4 specifies (accountjid, accountjids, password, password-verify, max_items,
announcement, motd, ...) — the mapping lives here, not in the registry.

Forms are XEP-0004 data forms generated from the command's Args, with XEP-0122 validation
(datatypes, ranges, regex, list ranges) enforced here before the registry validates again.
A command with more than PAGE_SIZE arguments is split into stages (prev/next/complete), each
form carrying its XEP-0141 <page/> with "Required" and "Optional" sections. Long-running
commands (Celery) answer status='executing' with a note; executing the same session again
shows the progress, `cancel` stops the run, and the result arrives as a message.

Hooks handled:
  iq-set/host/http://jabber.org/protocol/commands:command
  disco/items/host/node, disco/info/host/node (the commands node and each command node)
  commands/run-finished (run dict): the result of a long command, as a message to its operator
  session/closed (session, ...): forget the finished resource's idle command sessions
  server/stopping: stop the progress poller
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from lxml import etree

from commands import registry
from commands.registry import Actor, Arg, Command, CommandError
from xmppcore import forms, ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

log = logging.getLogger(__name__)
ACTIONS = frozenset({"execute", "cancel", "prev", "next", "complete"})  # XEP-0050 §4.1
PAGE_SIZE = 5  # arguments per stage
SESSION_TIMEOUT = 600.0  # seconds a command session may stay idle
ENDED_REMEMBERED = 4096  # ended session ids kept to answer <session-expired/> (§4.4)
POLL_INTERVAL = 2.0  # seconds between checks of long runs (workers in other processes)
MAX_LIST_ITEMS = 10000  # XEP-0133 lists: "none" still has a bound
ADMIN_PREFIX = ns.ADMIN + "#"


class CommandFailure(StanzaError):
    """A stanza error with an XEP-0050 §4.4 command-specific condition after the defined one."""

    def __init__(self, condition: str, specific: str | None, text: str | None = None) -> None:
        super().__init__(condition, text)
        self.specific = specific

    def to_element(self, namespace: str = ns.CLIENT) -> etree._Element:
        el = super().to_element(namespace)
        if self.specific is not None:  # RFC 6120 §8.3.2: the application condition comes last
            etree.SubElement(el, ns.q(ns.COMMANDS, self.specific), nsmap={None: ns.COMMANDS})
        return el


def bad_payload(text: str) -> CommandFailure:
    return CommandFailure("bad-request", "bad-payload", text)


# -- XEP-0133 forms ---------------------------------------------------------------------

def _jid_field(var: str, label: str, multi: bool = False) -> forms.Field:
    return forms.Field(var, "jid-multi" if multi else "jid-single", label=label, required=True)


def _max_items() -> forms.Field:
    # XEP-0133 §4.18 / §4.20: the list's size limit, with these options.
    options = [forms.Option(v, v) for v in ("25", "50", "75", "100", "150", "200")]
    return forms.Field("max_items", "list-single", label="Maximum number of items to show",
                       options=options + [forms.Option("none", "None")])


@dataclass(frozen=True)
class AdminSpec:
    """One XEP-0133 use case: its form, and how its values and result map to the registry."""

    title: str
    instructions: str
    fields: tuple[forms.Field, ...] = ()
    result: str | None = None  # "count" | "jids" | "roster": how the result is shown
    result_var: str = ""
    result_label: str = ""
    text_var: str | None = None  # the text-multi field feeding the command's text argument
    prefill_motd: bool = False


ADMIN_SPECS: dict[str, AdminSpec] = {
    # XEP-0133 §4.1
    "add-user": AdminSpec("Adding a User", "Fill out this form to add a user.", (
        _jid_field("accountjid", "The Jabber ID for the account to be added"),
        forms.Field("password", "text-private", label="The password for this account", required=True),
        forms.Field("password-verify", "text-private", label="Retype password", required=True))),
    # §4.2-§4.5
    "delete-user": AdminSpec("Deleting a User", "Fill out this form to delete a user.",
                             (_jid_field("accountjids", "The Jabber ID(s) to delete", True),)),
    "disable-user": AdminSpec("Disabling a User", "Fill out this form to disable a user.",
                              (_jid_field("accountjids", "The Jabber ID(s) to disable", True),)),
    "reenable-user": AdminSpec("Re-Enabling a User", "Fill out this form to re-enable a user.",
                               (_jid_field("accountjids", "The Jabber ID(s) to re-enable", True),)),
    "end-user-session": AdminSpec("Ending a User Session", "Fill out this form to end a user's session.",
                                  (_jid_field("accountjids", "The Jabber ID(s) for which to end sessions", True),)),
    # §4.7
    "change-user-password": AdminSpec("Changing a User Password", "Fill out this form to change a user's password.", (
        _jid_field("accountjid", "The Jabber ID for this account"),
        forms.Field("password", "text-private", label="The password for this account", required=True))),
    # §4.8: one account per request (XEP-0122 list-range), its roster in the result
    "get-user-roster": AdminSpec("Getting a User's Roster", "Fill out this form to get a user's roster.", (
        forms.Field("accountjids", "jid-multi", label="The Jabber ID(s) for which to retrieve the roster",
                    required=True, validate=forms.Validation(list_min=1, list_max=1)),),
        result="roster"),
    # §4.13, §4.15
    "get-registered-users-num": AdminSpec("Getting the Number of Registered Users", "", result="count",
                                          result_var="registeredusersnum",
                                          result_label="The number of registered users"),
    "get-online-users-num": AdminSpec("Getting the Number of Online Users", "", result="count",
                                      result_var="onlineusersnum", result_label="The number of online users"),
    # §4.18, §4.20
    "get-registered-users-list": AdminSpec("Getting the List of Registered Users", "", (_max_items(),),
                                           result="jids", result_var="registereduserjids",
                                           result_label="The list of all users"),
    "get-online-users-list": AdminSpec("Getting the List of Online Users", "", (_max_items(),),
                                       result="jids", result_var="onlineuserjids",
                                       result_label="The list of all online users"),
    # §4.23-§4.26
    "announce": AdminSpec("Making an Announcement", "Fill out this form to make an announcement to all "
                          "active users of this service.",
                          (forms.Field("announcement", "text-multi", label="Announcement", required=True),),
                          text_var="announcement"),
    "set-motd": AdminSpec("Setting the Message of the Day", "Fill out this form to set the message of the day.",
                          (forms.Field("motd", "text-multi", label="Message of the Day", required=True),),
                          text_var="motd"),
    "edit-motd": AdminSpec("Editing the Message of the Day", "Fill out this form to edit the message of the day.",
                           (forms.Field("motd", "text-multi", label="Message of the Day", required=True),),
                           text_var="motd", prefill_motd=True),
    "delete-motd": AdminSpec("Deleting the Message of the Day", ""),
}


# -- the command nodes --------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """A command node: the registry command behind it, and its XEP-0133 spec if it has one."""

    node: str
    cmd: Command
    spec: AdminSpec | None

    @property
    def name(self) -> str:
        return self.spec.title if self.spec is not None else self.cmd.description


def _admin_fragment(node: str) -> str | None:
    return node[len(ADMIN_PREFIX):] if node.startswith(ADMIN_PREFIX) else None


# XEP-0133 use cases served by another use case's registry command (§4.25: editing the
# message of the day is setting it, from a form filled with the current one).
ADMIN_ALIASES = {"edit-motd": "set-motd"}


def entries() -> list[Entry]:
    """Every command node, read from the registry each time (commands may be added later)."""
    out = []
    for cmd in registry.all_commands():
        node = cmd.xep0133_node or cmd.name
        fragment = _admin_fragment(node)
        spec = ADMIN_SPECS.get(fragment) if fragment is not None else None
        if spec is not None and not _spec_fits(spec, cmd):
            spec = None
        out.append(Entry(node, cmd, spec))
    taken = {e.node for e in out}
    for alias, target in ADMIN_ALIASES.items():
        base = next((e for e in out if e.node == ADMIN_PREFIX + target and e.spec is not None), None)
        if base is not None and ADMIN_PREFIX + alias not in taken:
            out.append(Entry(ADMIN_PREFIX + alias, base.cmd, ADMIN_SPECS[alias]))
    return out


def find_entry(node: str) -> Entry | None:
    for entry in entries():
        if entry.node == node:
            return entry
    return None


def _spec_fits(spec: AdminSpec, cmd: Command) -> bool:
    """A registry command can sit behind an XEP-0133 form when the form fills its required args."""
    vars_ = {f.var for f in spec.fields}
    for arg in cmd.args:
        if not arg.required or arg.default is not None:
            continue
        if arg.type == "jid" and vars_ & {"accountjid", "accountjids"}:
            continue
        if arg.name == "password" and "password" in vars_:
            continue
        if arg.type == "domain" or (arg.type == "text" and spec.text_var):
            continue
        return False
    return True


def may_try(entry: Entry, actor: Actor, domain: str) -> bool:
    """Whether `actor` may see and start the command (the registry checks again with the args)."""
    if actor.is_server_admin:
        return True
    permission = entry.cmd.permission
    if permission == "server_admin":
        return False
    if entry.spec is not None:  # XEP-0133 §6: service administrators only; the domain asked
        return domain in actor.admin_domains
    if permission == "domain_admin":
        return bool(actor.admin_domains)
    # "user": on one's own account, which only a scope argument can name.
    return bool(actor.admin_domains) or any(a.name in registry.SCOPE_ARGS for a in entry.cmd.args)


# -- forms from Args (XEP-0004 + XEP-0122) ------------------------------------------------------------

def _int_validation(arg: Arg) -> forms.Validation:
    if arg.min is None and arg.max is None:
        return forms.Validation("xs:integer")
    return forms.Validation("xs:integer", "range", None if arg.min is None else str(arg.min),
                            None if arg.max is None else str(arg.max))


def _list_range(arg: Arg) -> forms.Validation | None:
    if arg.min is None and arg.max is None:
        return None
    return forms.Validation(list_min=arg.min, list_max=arg.max)


def _default_values(arg: Arg, default: Any) -> list[str]:
    if default is None:
        return []
    if isinstance(default, bool):
        return ["1" if default else "0"]
    if isinstance(default, (list, tuple)):
        return [str(v) for v in default]
    if arg.type == "text":
        return str(default).splitlines()
    return [str(default)]


def arg_field(arg: Arg, domains: list[str], default: Any = None) -> forms.Field:
    """The data form field for one registry argument."""
    t = arg.type
    f = forms.Field(arg.name, label=arg.title, desc=arg.help or None,
                    required=arg.required and arg.default is None)
    if t in ("string", "password"):
        f.type = "text-private" if t == "password" else "text-single"
        if arg.choices:
            f.type, f.options = "list-single", [forms.Option(c) for c in arg.choices]
        if arg.regex is not None:
            f.validate = forms.Validation("xs:string", "regex", regex=arg.regex)
    elif t == "text":
        f.type = "text-multi"
    elif t == "int":
        f.type, f.validate = "text-single", _int_validation(arg)
    elif t == "bool":
        f.type, f.validate = "boolean", forms.Validation("xs:boolean")
    elif t == "jid":
        f.type = "jid-single"
    elif t == "jids":
        f.type, f.validate = "jid-multi", _list_range(arg)
    elif t in ("list-single", "list-multi"):
        f.type, f.options = t, [forms.Option(c) for c in arg.choices]
        f.validate = _list_range(arg) if t == "list-multi" else None
    elif t == "datetime":
        f.type, f.validate = "text-single", forms.Validation("xs:dateTime")
    elif t == "domain":
        f.type, f.options = "list-single", [forms.Option(d) for d in domains]
    f.values = _default_values(arg, default if default is not None else arg.default)
    return f


def _raw_value(arg: Arg, values: list[str]) -> Any:
    """Checked form values as the registry's raw argument (it coerces them once more)."""
    if arg.type in ("jids", "list-multi"):
        return list(values)
    if arg.type == "text":
        return "\n".join(values)
    if arg.type == "bool":
        return forms.BOOLEAN_VALUES.get(values[0], False) if values else False
    return values[0] if values else ""


# -- results as data forms --------------------------------------------------------------------

def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _value_field(var: str, value: Any, label: str | None = None) -> forms.Field:
    if isinstance(value, bool):
        return forms.Field(var, "boolean", label=label, values=[_text(value)])
    if isinstance(value, (list, tuple)):
        return forms.Field(var, "text-multi", label=label, values=[_text(v) for v in value])
    if isinstance(value, dict):  # a nested mapping: one "key: value" line each
        return forms.Field(var, "text-multi", label=label, values=[f"{k}: {_text(v)}" for k, v in value.items()])
    text = _text(value)
    if "\n" in text:
        return forms.Field(var, "text-multi", label=label, values=text.splitlines())
    return forms.Field(var, "text-single", label=label, values=[text])


def result_form(cmd: Command, result: Any) -> forms.Form | None:
    """A registry result (already JSON-shaped or not) as an XEP-0004 form of type 'result'."""
    result = registry.to_json(result)
    if cmd.result == "none" or result is None:
        return None
    form = forms.Form(type="result", title=cmd.description)
    if cmd.result == "table" and isinstance(result, list):
        columns = list(cmd.columns) or sorted({k for row in result if isinstance(row, dict) for k in row})
        form.reported = [forms.Field(c, "text-single", label=c.replace("_", " ").capitalize()) for c in columns]
        form.items = [[forms.Field(c, None, values=_row_values(row.get(c))) for c in columns]
                      for row in result if isinstance(row, dict)]
    elif cmd.result == "dict" and isinstance(result, dict):
        form.fields = [_value_field(k, v, k.replace("_", " ").capitalize()) for k, v in result.items()]
    elif cmd.result == "list" and isinstance(result, list):
        form.fields = [forms.Field("result", "text-multi", label=cmd.description,
                                   values=[_text(v) for v in result])]
    elif isinstance(result, dict):
        form.fields = [_value_field(k, v) for k, v in result.items()]
    else:
        form.fields = [_value_field("result", result, cmd.description)]
    return form


def _row_values(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return [_text(value)]


def _admin_result_form(spec: AdminSpec, results: list[Any], values: dict[str, list[str]]) -> forms.Form | None:
    """XEP-0133 result forms: FORM_TYPE, then the use case's own fields (§4.8, §4.13-§4.20)."""
    if spec.result is None:
        return None
    form = forms.Form(type="result", title=spec.title)
    form.add(forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]))
    result = registry.to_json(results[0]) if results else None
    if spec.result == "count":
        form.add(forms.Field(spec.result_var, "text-single", label=spec.result_label, values=[_text(result)]))
    elif spec.result == "jids":
        jids = [row.get("jid") if isinstance(row, dict) else row for row in (result or [])]
        limit = (values.get("max_items") or ["none"])[0]
        bound = MAX_LIST_ITEMS if limit in ("none", "") else int(limit)
        form.add(forms.Field(spec.result_var, "jid-multi", label=spec.result_label,
                             values=[str(j) for j in jids[:bound]]))
    return form


def roster_query(rows: Iterable[dict[str, Any]]) -> etree._Element:
    """XEP-0133 §4.8: the user's roster as a jabber:iq:roster <query/> inside the result form."""
    query = etree.Element(ns.q(ns.ROSTER, "query"), nsmap={None: ns.ROSTER})
    for row in rows:
        item = etree.SubElement(query, ns.q(ns.ROSTER, "item"), jid=str(row.get("jid")))
        if row.get("name"):
            item.set("name", str(row["name"]))
        item.set("subscription", str(row.get("subscription") or "none"))
        if row.get("ask"):
            item.set("ask", str(row["ask"]))
        for group in row.get("groups") or ():
            etree.SubElement(item, ns.q(ns.ROSTER, "group")).text = str(group)
    return query


# -- sessions --------------------------------------------------------------------------------

@dataclass
class CommandSession:
    """One execution of a command by one requester (XEP-0050 §3.3 "Session Lifetime")."""

    id: str
    entry: Entry
    owner: JID  # the requester's full JID: the session is valid for that pair only
    actor: Actor
    domain: str  # the hosted domain the command was sent to
    pages: list[list[forms.Field]]
    stage: int = 0
    values: dict[str, list[str]] = field(default_factory=dict)
    run_id: str | None = None
    delivered: bool = False
    touched: float = field(default_factory=time.monotonic)

    @property
    def is_last(self) -> bool:
        return self.stage >= len(self.pages) - 1

    def page_of(self, var: str) -> int | None:
        for i, page in enumerate(self.pages):
            if any(f.var == var for f in page):
                return i
        return None


@dataclass
class Reply:
    """What a stage answers: status, actions, notes, a form, extra payload."""

    status: str
    form: forms.Form | None = None
    actions: tuple[str, ...] = ()
    default: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    extra: list[etree._Element] = field(default_factory=list)


def command_element(node: str, sessionid: str, reply: Reply) -> etree._Element:
    """XEP-0050 §4: <command node sessionid status> with <actions/>, <note/>s and the payload."""
    el = etree.Element(ns.q(ns.COMMANDS, "command"), nsmap={None: ns.COMMANDS})
    el.set("node", node)
    el.set("sessionid", sessionid)
    el.set("status", reply.status)
    if reply.actions:
        actions = etree.SubElement(el, ns.q(ns.COMMANDS, "actions"))
        if reply.default is not None:
            actions.set("execute", reply.default)
        for name in ("prev", "next", "complete"):
            if name in reply.actions:
                etree.SubElement(actions, ns.q(ns.COMMANDS, name))
    for note_type, text in reply.notes:
        etree.SubElement(el, ns.q(ns.COMMANDS, "note"), type=note_type).text = text
    if reply.form is not None:
        x = forms.build_form(reply.form)
        for extra in reply.extra:
            x.append(extra)
        el.append(x)
    else:
        for extra in reply.extra:
            el.append(extra)
    return el


class AdHoc:
    """The command sessions of this process, and the handlers of the module."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.sessions: dict[str, CommandSession] = {}
        self.ended: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.by_run: dict[str, str] = {}  # run id -> session id
        self.poller: asyncio.Task[None] | None = None

    # -- disco (XEP-0050 §2.1, §2.2) -----------------------------------------------------------------
    def _actor(self, jid: JID | None) -> Actor | None:
        return registry.actor_for_jid(jid, "adhoc") if jid is not None else None

    def disco_items(self, stanza: Stanza, query: etree._Element) -> bool | None:
        if query.get("node") != ns.COMMANDS:
            return None
        actor = self._actor(stanza.from_)
        domain = stanza.to.domain
        for entry in entries():
            if actor is not None and may_try(entry, actor, domain):
                etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=domain, node=entry.node,
                                 name=entry.name)
        return True

    def disco_info(self, stanza: Stanza, query: etree._Element) -> bool | None:
        node = query.get("node")
        if node == ns.COMMANDS:  # §2.2: the command list node
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="automation",
                             type="command-list", name="Commands")
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=ns.COMMANDS)
            return True
        entry = find_entry(node) if node is not None else None
        if entry is None:
            return None
        actor = self._actor(stanza.from_)
        if actor is None or not may_try(entry, actor, stanza.to.domain):
            raise StanzaError("forbidden", "you may not run this command")  # §2.2: 403
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="automation",
                         type="command-node", name=entry.name)
        for var in (ns.COMMANDS, ns.DATA_FORMS, ns.XDATA_VALIDATE, ns.XDATA_LAYOUT):
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=var)
        return True

    # -- execution (XEP-0050 §2.4) ---------------------------------------------------------------
    async def on_command(self, stanza: Stanza) -> etree._Element:
        el = stanza.payload
        node = el.get("node")
        action = el.get("action") or "execute"
        if not node:
            raise StanzaError("bad-request", "a command needs a 'node'")
        if action not in ACTIONS:
            raise CommandFailure("bad-request", "malformed-action", f"unknown action {action!r}")
        self._sweep()
        sessionid = el.get("sessionid")
        if sessionid is None:
            sess, reply = await self._start(stanza, node, action, el)
        else:
            sess = self._session(stanza, node, sessionid)
            sess.touched = time.monotonic()
            reply = await self._continue(sess, action, el)
        if reply.status != "executing":
            self._end(sess)
        return iq_result(stanza, command_element(node, sess.id, reply))

    async def _start(self, stanza: Stanza, node: str, action: str,
                     el: etree._Element) -> tuple[CommandSession, Reply]:
        entry = find_entry(node)
        if entry is None:
            raise StanzaError("item-not-found", "no such command")
        actor = self._actor(stanza.from_)
        domain = stanza.to.domain
        if actor is None or not may_try(entry, actor, domain):
            raise StanzaError("forbidden", "you may not run this command")
        if action in ("cancel", "prev"):
            raise CommandFailure("bad-request", "bad-action", f"nothing to {action}: no session yet")
        sess = CommandSession(f"{secrets.token_hex(8)}", entry, stanza.from_, actor, domain,
                              await self._pages(entry, actor, domain))
        self.sessions[sess.id] = sess
        try:
            if not sess.pages:  # nothing to ask: a single stage that completes at once
                return sess, await self._execute(sess)
            if forms.find_form(el) is not None:  # §3.5: a submission with the first request
                return sess, await self._continue(sess, action, el)
            return sess, self._stage(sess)
        except Exception:
            self._end(sess)
            raise

    def _session(self, stanza: Stanza, node: str, sessionid: str) -> CommandSession:
        sess = self.sessions.get(sessionid)
        if sess is None:
            if sessionid in self.ended:  # §4.4: completed, canceled or timed out
                raise CommandFailure("not-allowed", "session-expired", "this command session has ended")
            raise CommandFailure("bad-request", "bad-sessionid", "no such command session")
        if sess.owner != stanza.from_ or sess.entry.node != node:
            raise CommandFailure("bad-request", "bad-sessionid", "this session belongs to another requester or node")
        return sess

    async def _continue(self, sess: CommandSession, action: str, el: etree._Element) -> Reply:
        if sess.run_id is not None:
            return await self._running(sess, action)
        if action == "cancel":
            return Reply("canceled", notes=[("info", "The command was canceled.")])
        if action == "execute":  # §3.4: the default action of the current stage
            action = "complete" if sess.is_last else "next"
        if action == "prev":
            if sess.stage == 0:
                raise CommandFailure("bad-request", "bad-action", "this is the first stage")
            sess.stage -= 1
            return self._stage(sess)
        if action == "next" and sess.is_last:
            raise CommandFailure("bad-request", "bad-action", "this is the last stage: complete it")
        if action == "complete" and not sess.is_last:
            raise CommandFailure("bad-request", "bad-action", "there are further stages: use next")
        self._accept(sess, el)
        if action == "next":
            sess.stage += 1
            return self._stage(sess)
        return await self._execute(sess)

    def _accept(self, sess: CommandSession, el: etree._Element) -> None:
        """Check the submitted form of the current stage (XEP-0004 §3.3, XEP-0122) and keep it."""
        x = forms.find_form(el)
        if x is None:
            raise bad_payload("submit the stage's data form")
        try:
            submitted = forms.parse_form(x)
            definition = forms.Form(fields=list(sess.pages[sess.stage]))
            if sess.entry.spec is not None:
                definition.fields.insert(0, forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]))
            values = forms.check_submission(definition, submitted)
        except forms.FormError as exc:
            raise bad_payload(str(exc)) from None
        for f in sess.pages[sess.stage]:
            if f.var in values:
                sess.values[f.var] = values[f.var]
            else:
                sess.values.pop(f.var, None)

    async def _pages(self, entry: Entry, actor: Actor, domain: str) -> list[list[forms.Field]]:
        if entry.spec is not None:
            fields = [forms.Field(f.var, f.type, f.label, f.desc, f.required, list(f.values), list(f.options),
                                  f.validate) for f in entry.spec.fields]
            if entry.spec.prefill_motd and fields:
                fields[0].values = await self._current_motd(domain)
            return [fields] if fields else []
        domains = [d for d in self.server.config.domains if actor.administers(d)]
        fields = []
        for arg in entry.cmd.args:
            default = None
            if arg.type == "domain" and domain in domains and arg.default is None:
                default = domain
            elif arg.name in registry.SCOPE_ARGS and arg.type == "jid" and entry.cmd.permission == "user":
                default = str(actor.jid) if actor.jid is not None and not actor.is_server_admin else None
            fields.append(arg_field(arg, domains, default))
        return [fields[i:i + PAGE_SIZE] for i in range(0, len(fields), PAGE_SIZE)]

    @staticmethod
    async def _current_motd(domain: str) -> list[str]:
        from commands.actions import get_motd

        motd = await db(get_motd, domain)
        return motd.body.splitlines() if motd is not None else []

    def _stage(self, sess: CommandSession) -> Reply:
        """The form of the current stage, with its <actions/> (§3.4) and XEP-0141 page."""
        entry = sess.entry
        page = sess.pages[sess.stage]
        form = forms.Form(type="form", title=entry.name)
        if entry.spec is not None:
            if entry.spec.instructions:
                form.instructions.append(entry.spec.instructions)
            form.add(forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]))
        else:
            form.instructions.append(entry.cmd.description)
        for f in page:
            shown = forms.Field(f.var, f.type, f.label, f.desc, f.required, list(f.values), list(f.options),
                                f.validate)
            if f.var in sess.values and f.type != "text-private":
                shown.values = list(sess.values[f.var])  # what the requester entered before (prev)
            form.add(shown)
        count = len(sess.pages)
        if count > 1:
            form.pages = [self._layout(sess, page)]
        actions: list[str] = ["prev"] if sess.stage > 0 else []
        actions.append("complete" if sess.is_last else "next")
        return Reply("executing", form=form, actions=tuple(actions), default=actions[-1])

    def _layout(self, sess: CommandSession, page: list[forms.Field]) -> forms.Page:
        # XEP-0141 §3.1: one page per stage, required and optional fields in their own sections.
        layout = forms.Page(f"Step {sess.stage + 1} of {len(sess.pages)}")
        layout.add_text(sess.entry.cmd.description)
        required = [f.var for f in page if f.required]
        optional = [f.var for f in page if not f.required]
        if required:
            layout.add_section(forms.Section("Required").add_fieldref(*required))
        if optional:
            layout.add_section(forms.Section("Optional").add_fieldref(*optional))
        return layout

    # -- running the registry command ---------------------------------------------------------
    async def _execute(self, sess: CommandSession) -> Reply:
        if sess.entry.spec is not None:
            return await self._execute_admin(sess)
        cmd = sess.entry.cmd
        raw = {}
        for arg in cmd.args:
            values = sess.values.get(arg.name)
            if values is None:
                continue  # left out: the registry applies the default
            if arg.type == "bool" or any(v != "" for v in values):
                raw[arg.name] = _raw_value(arg, values)
        try:
            result = await registry.run(cmd.name, sess.actor, raw)
        except CommandError as exc:
            return self._failed(sess, exc)
        if cmd.long_running:
            return self._started(sess, result)
        return Reply("completed", form=result_form(cmd, result),
                     notes=[("info", f"{cmd.name}: done.")])

    def _failed(self, sess: CommandSession, exc: CommandError) -> Reply:
        """Invalid input keeps the session at the stage of the first bad field (XEP-0050 §4.4
        <bad-payload/>); a refusal is <forbidden/>; any other failure completes the command
        with an error note (XEP-0050 §3.6 "Commands Successful/Failed")."""
        if exc.code == "bad-request":
            pages = [p for p in (sess.page_of(v) for v in exc.fields) if p is not None]
            if pages:
                sess.stage = min(pages)
            raise bad_payload(exc.message)
        if exc.code == "forbidden":
            self._end(sess)
            raise StanzaError("forbidden", exc.message)
        return Reply("completed", notes=[("error", f"{exc.code}: {exc.message}")])

    async def _execute_admin(self, sess: CommandSession) -> Reply:
        """XEP-0133: one registry call per account of 'accountjids' (or one call); all calls are
        validated and authorized before any runs. Failures are stanza errors (§5)."""
        spec, cmd, values = sess.entry.spec, sess.entry.cmd, sess.values
        assert spec is not None
        if "password-verify" in values and values.get("password") != values["password-verify"]:
            raise bad_payload("password-verify: the passwords do not match")
        targets: list[str | None] = list(values.get("accountjids") or values.get("accountjid") or [None])
        raws = [self._admin_raw(sess, target) for target in targets]
        for raw in raws:
            try:
                registry.check_permission(cmd, sess.actor, registry.validate(cmd, raw))
            except CommandError as exc:
                raise admin_error(exc) from None
        results, notes = [], []
        for target, raw in zip(targets, raws, strict=True):
            try:
                results.append(await registry.run(cmd.name, sess.actor, raw))
            except CommandError as exc:
                if len(targets) == 1:
                    raise admin_error(exc) from None
                notes.append(("error", f"{target}: {exc.message}"))
        if cmd.long_running and results:
            return self._started(sess, results[0])
        reply = Reply("completed", form=_admin_result_form(spec, results, values), notes=notes)
        if spec.result == "roster":
            reply.form = forms.Form(type="result", title=spec.title, fields=[
                forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]),
                forms.Field("accountjids", "jid-multi", values=[str(t) for t in targets])])
            reply.extra = [roster_query(registry.to_json(results[0]) if results else [])]
        if not notes:
            reply.notes.append(("info", f"{spec.title}: done."))
        return reply

    def _admin_raw(self, sess: CommandSession, target: str | None) -> dict[str, Any]:
        spec, values = sess.entry.spec, sess.values
        raw: dict[str, Any] = {}
        for arg in sess.entry.cmd.args:
            if arg.type == "jid" and arg.name in registry.SCOPE_ARGS and target is not None:
                raw[arg.name] = target
            elif arg.name == "password" and "password" in values:
                raw[arg.name] = values["password"][0]
            elif arg.type == "domain":
                raw[arg.name] = sess.domain  # the domain the command was sent to
            elif arg.type == "text" and spec is not None and spec.text_var in values:
                raw[arg.name] = "\n".join(values[spec.text_var])
        return raw

    # -- long-running commands (Celery) -------------------------------------------------------------
    def _started(self, sess: CommandSession, result: Any) -> Reply:
        sess.run_id = str(result["task_id"]) if isinstance(result, dict) and "task_id" in result else None
        if sess.run_id is None:
            return Reply("completed", form=result_form(sess.entry.cmd, result))
        self.by_run[sess.run_id] = sess.id
        self._ensure_poller()
        return Reply("executing", actions=("next",), default="next", notes=[(
            "info", f"{sess.entry.cmd.name} is running as task {sess.run_id}. Execute this session again "
                    "to see its progress, or cancel it; the result will also come as a message.")],
            form=self._progress_form(sess, {"status": "queued", "progress": {"done": 0, "total": 0, "note": ""}}))

    async def _running(self, sess: CommandSession, action: str) -> Reply:
        """A session whose command runs: execute/next show progress, cancel stops it."""
        from commands import actions, tasks

        run_id = sess.run_id
        assert run_id is not None
        if action == "cancel":
            run = await db(tasks.cancel, run_id)
            if run.status in ("done", "failed"):
                state = f"it had already finished ({run.status})"
            else:
                state = "cancelled" if run.status == "cancelled" else "cancellation requested"
            return Reply("canceled", notes=[("info", f"{sess.entry.cmd.name}: {state}.")])
        if action == "prev":
            raise CommandFailure("bad-request", "bad-action", "the command is running")
        run = actions.run_as_dict(await db(actions.get_run, run_id))
        if run["status"] in ("done", "failed", "cancelled"):
            sess.delivered = True  # the requester has it now: no message needed
            return self._finished_reply(sess, run)
        progress = run["progress"]
        text = f"{run['status']}: {progress['done']} of {progress['total'] or '?'}"
        if progress["note"]:
            text += f" ({progress['note']})"
        return Reply("executing", actions=("next",), default="next", notes=[("info", text)],
                     form=self._progress_form(sess, run))

    @staticmethod
    def _progress_form(sess: CommandSession, run: dict[str, Any]) -> forms.Form:
        progress = run["progress"]
        return forms.Form(type="result", title=f"{sess.entry.cmd.name}: progress", fields=[
            forms.Field("status", "text-single", label="Status", values=[run["status"]]),
            forms.Field("done", "text-single", label="Done", values=[str(progress["done"])]),
            forms.Field("total", "text-single", label="Total", values=[str(progress["total"])]),
            forms.Field("note", "text-single", label="Note", values=[progress["note"] or ""])])

    @staticmethod
    def _finished_reply(sess: CommandSession, run: dict[str, Any]) -> Reply:
        cmd = sess.entry.cmd
        if run["status"] == "done":
            return Reply("completed", form=result_form(cmd, run["result"]), notes=[("info", f"{cmd.name}: done.")])
        if run["status"] == "cancelled":
            return Reply("canceled", notes=[("info", f"{cmd.name} was cancelled.")])
        error = run.get("error") or {}
        return Reply("completed", notes=[("error", f"{error.get('code', 'internal')}: "
                                                   f"{error.get('message', 'the command failed')}")])

    async def run_finished(self, run: dict[str, Any]) -> None:
        """Hook commands/run-finished: send the result to the operator who started it."""
        sid = self.by_run.get(str(run.get("id")))
        sess = self.sessions.get(sid) if sid is not None else None
        if sess is None or sess.delivered:
            return
        sess.delivered = True
        await self._deliver(sess, run)

    async def _deliver(self, sess: CommandSession, run: dict[str, Any]) -> None:
        from commands import live

        reply = self._finished_reply(sess, run)
        msg = make("message", to=sess.owner, from_=sess.domain, type_="normal", id_=f"adhoc-{secrets.token_hex(6)}")
        etree.SubElement(msg, ns.q(ns.CLIENT, "subject")).text = f"{sess.entry.cmd.name}: {run['status']}"
        body = "; ".join(text for _, text in reply.notes) or run["status"]
        etree.SubElement(msg, ns.q(ns.CLIENT, "body")).text = body
        etree.SubElement(msg, ns.q(ns.CLIENT, "thread")).text = sess.id
        msg.append(command_element(sess.entry.node, sess.id, reply))
        await live.route(self.server, msg)

    def _ensure_poller(self) -> None:
        if self.poller is None or self.poller.done():
            self.poller = asyncio.get_running_loop().create_task(self._poll(), name="xep-0050 run poller")

    async def _poll(self) -> None:
        """Runs finished by workers in other processes fire no hook here: look them up."""
        from commands import actions

        while any(s.run_id and not s.delivered for s in self.sessions.values()):
            await asyncio.sleep(POLL_INTERVAL)
            for sess in [s for s in self.sessions.values() if s.run_id and not s.delivered]:
                try:
                    run = actions.run_as_dict(await db(actions.get_run, sess.run_id))
                except Exception:  # a run deleted under us: nothing more to report
                    log.exception("lost track of run %s", sess.run_id)
                    sess.delivered = True
                    continue
                if run["status"] in ("done", "failed", "cancelled") and not sess.delivered:
                    sess.delivered = True
                    await self._deliver(sess, run)

    async def stopping(self, server: "Server") -> None:
        if server is self.server and self.poller is not None:
            self.poller.cancel()

    # -- bookkeeping ------------------------------------------------------------------------------
    def _end(self, sess: CommandSession) -> None:
        """§3.3: a completed or canceled session's id is never valid again."""
        if self.sessions.pop(sess.id, None) is None:
            return
        self.ended[sess.id] = None
        while len(self.ended) > ENDED_REMEMBERED:
            self.ended.popitem(last=False)
        if sess.run_id is not None:
            self.by_run.pop(sess.run_id, None)

    def _sweep(self) -> None:
        """Time out idle sessions; one whose command still runs lives until it is delivered."""
        now = time.monotonic()
        for sess in list(self.sessions.values()):
            if now - sess.touched > SESSION_TIMEOUT and (sess.run_id is None or sess.delivered):
                self._end(sess)

    def session_closed(self, session: "Session", *_: Any) -> None:
        for sess in list(self.sessions.values()):
            if sess.owner == session.jid and sess.run_id is None:
                self._end(sess)


def admin_error(exc: CommandError) -> StanzaError:
    """XEP-0133 §5: registry failures as stanza errors."""
    if exc.code == "bad-request":
        return bad_payload(exc.message)
    condition = {"not-found": "item-not-found", "conflict": "conflict", "forbidden": "forbidden"}.get(
        exc.code, "internal-server-error")
    return StanzaError(condition, exc.message)


def load(server: "Server") -> "Module":
    module = server.module("adhoc", xep="XEP-0050", title="Ad-Hoc Commands", version="1.3.0",
                           status="complete",
                           notes="every registry command; multi-stage forms; long commands via Celery")
    served = sorted(_admin_fragment(e.node) for e in entries() if e.spec is not None)
    server.module("admin", xep="XEP-0133", title="Service Administration", version="1.3.1",
                  status="partial", notes="the use cases the registry has commands for: " + ", ".join(served))
    server.module("xdata", xep="XEP-0004", title="Data Forms", version="2.13.2", status="complete")
    server.module("xdata-validate", xep="XEP-0122", title="Data Forms Validation", version="1.0.2",
                  status="complete", notes="enforced on ad-hoc command submissions; POSIX regex "
                                           "as Python regular expressions")
    server.module("xdata-layout", xep="XEP-0141", title="Data Forms Layout", version="1.0",
                  status="complete", notes="a page per stage of multi-stage commands")
    adhoc = AdHoc(server)
    module.iq("set", ns.COMMANDS, "command", adhoc.on_command, scope="host")
    module.hook("disco/items/host/node", adhoc.disco_items)
    module.hook("disco/info/host/node", adhoc.disco_info)
    module.hook("commands/run-finished", adhoc.run_finished)
    module.hook("session/closed", adhoc.session_closed)
    module.hook("server/stopping", adhoc.stopping)
    for var in (ns.COMMANDS, ns.DATA_FORMS, ns.XDATA_VALIDATE, ns.XDATA_LAYOUT):
        module.add_feature(var)
    return module
