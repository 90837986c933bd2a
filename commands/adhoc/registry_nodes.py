"""The registry's commands as command nodes of each hosted domain (XEP-0050, XEP-0133).

A command's node is its name, or its XEP-0133 node URI (`Command.xep0133_node`), whose form
then uses the field names XEP-0133 §4 specifies (`commands.adhoc.xep0133`). A command with
more than PAGE_SIZE arguments is split into stages (prev/next/complete). Values are checked
by the form's XEP-0122 rules, then validated, authorized and run by `commands.execution`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from commands import execution, registry
from commands.actions import get_motd
from commands.adhoc.errors import admin_error, bad_payload
from commands.adhoc.fields import arg_field, raw_value, result_form
from commands.adhoc.protocol import CommandSession, Node, Reply
from commands.adhoc.xep0133 import (ADMIN_ALIASES, ADMIN_PREFIX, ADMIN_SPECS, AdminSpec, admin_fragment,
                                    admin_result_form, roster_query, spec_fits)
from commands.permissions import actor_for_jid, check_permission
from commands.registry import SCOPE_ARGS, Actor, Command, CommandError
from commands.validation import to_json, validate
from xmppcore import forms, ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppd.storage import db

if TYPE_CHECKING:
    from commands.adhoc.runs import Runs
    from xmppd.server import Server

PAGE_SIZE = 5  # arguments per stage


@dataclass(frozen=True)
class Entry:
    """A command node: the registry command behind it, and its XEP-0133 spec if it has one."""

    node: str
    cmd: Command
    spec: AdminSpec | None

    @property
    def name(self) -> str:
        return self.spec.title if self.spec is not None else self.cmd.description


def entries() -> list[Entry]:
    """Every command node, read from the registry each time (commands may be added later)."""
    out = []
    for cmd in registry.all_commands():
        node = cmd.xep0133_node or cmd.name
        fragment = admin_fragment(node)
        spec = ADMIN_SPECS.get(fragment) if fragment is not None else None
        if spec is not None and not spec_fits(spec, cmd):
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
    return bool(actor.admin_domains) or any(a.name in SCOPE_ARGS for a in entry.cmd.args)


class RegistryNode(Node):
    """A registry command at a hosted domain."""

    def __init__(self, entry: Entry, server: "Server", runs: "Runs", actors: dict[JID, Actor]) -> None:
        self.entry = entry
        self.actors = actors  # requester -> Actor, shared by the nodes of one request
        self.node = entry.node
        self.name = entry.name
        self.form_type = ns.ADMIN if entry.spec is not None else None
        self.server = server
        self.runs = runs

    @property
    def cmd(self) -> Command:
        return self.entry.cmd

    def instructions(self) -> str:
        return self.entry.spec.instructions if self.entry.spec is not None else self.cmd.description

    def description(self) -> str:
        return self.cmd.description

    def allows(self, requester: JID, target: JID) -> bool:
        actor = self.actors.get(requester)
        if actor is None:
            actor = self.actors[requester] = actor_for_jid(requester, "adhoc")
        return may_try(self.entry, actor, target.domain)

    async def pages(self, sess: CommandSession) -> list[list[forms.Field]]:
        entry, actor, domain = self.entry, sess.actor, sess.domain
        if entry.spec is not None:
            fields = [forms.Field(f.var, f.type, f.label, f.desc, f.required, list(f.values), list(f.options),
                                  f.validate) for f in entry.spec.fields]
            if entry.spec.prefill_motd and fields:
                fields[0].values = await _current_motd(domain)
            return [fields] if fields else []
        domains = [d for d in self.server.config.domains if actor.administers(d)]
        out = []
        for arg in self.cmd.args:
            default = None
            if arg.type == "domain" and domain in domains and arg.default is None:
                default = domain
            elif arg.name in SCOPE_ARGS and arg.type == "jid" and self.cmd.permission == "user":
                default = str(actor.jid) if actor.jid is not None and not actor.is_server_admin else None
            out.append(arg_field(arg, domains, default))
        return [out[i:i + PAGE_SIZE] for i in range(0, len(out), PAGE_SIZE)]

    async def execute(self, sess: CommandSession) -> Reply:
        if self.entry.spec is not None:
            return await self._execute_admin(sess)
        cmd = self.cmd
        raw = {}
        for arg in cmd.args:
            values = sess.values.get(arg.name)
            if values is None:
                continue  # left out: the registry applies the default
            if arg.type == "bool" or any(v != "" for v in values):
                raw[arg.name] = raw_value(arg, values)
        try:
            result = await execution.run(cmd.name, sess.actor, raw)
        except CommandError as exc:
            return self._failed(sess, exc)
        if cmd.long_running:
            return self.runs.started(sess, result)
        return Reply("completed", form=result_form(cmd, result), notes=[("info", f"{cmd.name}: done.")])

    async def follow(self, sess: CommandSession, action: str) -> Reply:
        return await self.runs.follow(sess, action)

    @staticmethod
    def _failed(sess: CommandSession, exc: CommandError) -> Reply:
        """Invalid input keeps the session at the stage of the first bad field (XEP-0050 §4.4
        <bad-payload/>); a refusal is <forbidden/> and ends it; any other failure completes
        the command with an error note (XEP-0050 §3.6 "Commands Successful/Failed")."""
        if exc.code == "bad-request":
            pages = [p for p in (sess.page_of(v) for v in exc.fields) if p is not None]
            if pages:
                sess.stage = min(pages)
            raise bad_payload(exc.message)
        if exc.code == "forbidden":
            sess.closed = True
            raise StanzaError("forbidden", exc.message)
        return Reply("completed", notes=[("error", f"{exc.code}: {exc.message}")])

    async def _execute_admin(self, sess: CommandSession) -> Reply:
        """XEP-0133: one registry call per account of 'accountjids' (or one call); all calls are
        validated and authorized before any runs. Failures are stanza errors (§5)."""
        spec, cmd, values = self.entry.spec, self.cmd, sess.values
        assert spec is not None
        if "password-verify" in values and values.get("password") != values["password-verify"]:
            raise bad_payload("password-verify: the passwords do not match")
        targets: list[str | None] = list(values.get("accountjids") or values.get("accountjid") or [None])
        raws = [self._admin_raw(sess, target) for target in targets]
        for raw in raws:
            try:
                check_permission(cmd, sess.actor, validate(cmd, raw))
            except CommandError as exc:
                raise admin_error(exc) from None
        results, notes = [], []
        for target, raw in zip(targets, raws, strict=True):
            try:
                results.append(await execution.run(cmd.name, sess.actor, raw))
            except CommandError as exc:
                if len(targets) == 1:
                    raise admin_error(exc) from None
                notes.append(("error", f"{target}: {exc.message}"))
        if cmd.long_running and results:
            return self.runs.started(sess, results[0])
        reply = Reply("completed", form=admin_result_form(spec, results, values), notes=notes)
        if spec.result == "roster":
            reply.form = forms.Form(type="result", title=spec.title, fields=[
                forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]),
                forms.Field("accountjids", "jid-multi", values=[str(t) for t in targets])])
            reply.extra = [roster_query(to_json(results[0]) if results else [])]
        if not notes:
            reply.notes.append(("info", f"{spec.title}: done."))
        return reply

    def _admin_raw(self, sess: CommandSession, target: str | None) -> dict[str, Any]:
        spec, values = self.entry.spec, sess.values
        raw: dict[str, Any] = {}
        for arg in self.cmd.args:
            if arg.type == "jid" and arg.name in SCOPE_ARGS and target is not None:
                raw[arg.name] = target
            elif arg.name == "password" and "password" in values:
                raw[arg.name] = values["password"][0]
            elif arg.type == "domain":
                raw[arg.name] = sess.domain  # the domain the command was sent to
            elif arg.type == "text" and spec is not None and spec.text_var in values:
                raw[arg.name] = "\n".join(values[spec.text_var])
        return raw


async def _current_motd(domain: str) -> list[str]:
    motd = await db(get_motd, domain)
    return motd.body.splitlines() if motd is not None else []


def registry_nodes(server: "Server", runs: "Runs") -> list[Node]:
    actors: dict[JID, Actor] = {}
    return [RegistryNode(entry, server, runs, actors) for entry in entries()]
