"""Ad-hoc commands of any JID: how a component (a MUC service, a room, a pubsub service) or
any module offers its own XEP-0050 commands, run by the same session machinery as the
registry's (multi-stage forms, prev/next/complete, cancel, sessionid, notes).

A provider answers for one JID — a component's domain (`conference.example.org`) or an
entity on it or on a user domain (`room@conference.example.org`, `bot@example.org`) — and
lists the commands a requester may see there:

    def commands(target: JID, requester: JID) -> Sequence[ProvidedCommand]

`provide(hooks, jid, provider)` registers it; the ad-hoc module asks the `adhoc/provider`
hook (target JID) -> provider | None of the server's bus for the JID a request is
addressed to, so a module below `commands` in the layers registers with that hook
directly, with objects of the same shape. Its commands are listed in the JID's disco#items
node `http://jabber.org/protocol/commands` (XEP-0050 §2.2) — for a hosted domain, after the
registry's — and executed there.

A command's `stages` are the fields of each stage (a sequence, or a function of the
request giving them); the submitted values are checked against them (XEP-0004 §3.3,
XEP-0122) and handed to `execute(request) -> Reply` at the end. `execute` raises
`StanzaError` (or `CommandFailure`) to refuse.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, Sequence, Union

from commands.adhoc.errors import CommandFailure, bad_payload
from commands.adhoc.protocol import CommandSession, Node, Reply
from xmppcore import forms
from xmppcore.jid import JID

__all__ = ["CommandFailure", "CommandRequest", "ProvidedCommand", "Provider", "Reply", "StaticProvider",
           "bad_payload", "provide"]

PROVIDER_EVENT = "adhoc/provider"
Stages = Union[Sequence[Sequence[forms.Field]], Callable[["CommandRequest"], Any]]


@dataclass
class CommandRequest:
    """One execution of a provided command: who asked what of whom, and the checked values
    of every stage so far (var -> values, XEP-0004 text values)."""

    node: str
    target: JID
    requester: JID
    sessionid: str
    values: dict[str, list[str]] = field(default_factory=dict)

    def value(self, var: str, default: str | None = None) -> str | None:
        values = self.values.get(var)
        return values[0] if values else default


@dataclass(frozen=True)
class ProvidedCommand:
    """A command node a provider offers (XEP-0050 §2.2)."""

    node: str
    name: str
    execute: Callable[[CommandRequest], Union[Reply, Awaitable[Reply]]]
    stages: Stages = ()
    instructions: str = ""
    form_type: str | None = None  # XEP-0068 FORM_TYPE of the stage forms
    allowed: Callable[[JID, JID], bool] | None = None  # (requester, target); None: anyone


class Provider(Protocol):
    def commands(self, target: JID, requester: JID) -> Sequence[ProvidedCommand]: ...


class StaticProvider:
    """The same commands for everyone (each command's `allowed` still filters)."""

    def __init__(self, *commands: ProvidedCommand) -> None:
        self._commands = commands

    def commands(self, target: JID, requester: JID) -> Sequence[ProvidedCommand]:
        return self._commands


def provide(hooks: Any, jid: JID, provider: Provider) -> Callable[[], None]:
    """Register `provider` for requests addressed to `jid` on a HookBus (`server.hooks`);
    returns the function that removes it again."""
    def lookup(target: JID) -> Provider | None:
        return provider if target == jid else None

    hooks.add(PROVIDER_EVENT, lookup)
    return lambda: hooks.remove(PROVIDER_EVENT, lookup)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _as_reply(shaped: Any) -> Reply:
    """A reply of a provider below `commands` in the layers: an object with Reply's fields."""
    return Reply(shaped.status, getattr(shaped, "form", None), tuple(getattr(shaped, "actions", ())),
                 getattr(shaped, "default", None), list(getattr(shaped, "notes", ())),
                 list(getattr(shaped, "extra", ())))


class ProvidedNode(Node):
    """A provided command as a node of the session machine."""

    def __init__(self, command: ProvidedCommand) -> None:
        self.command = command
        self.node = command.node
        self.name = command.name
        self.form_type = command.form_type

    def instructions(self) -> str:
        return self.command.instructions

    def allows(self, requester: JID, target: JID) -> bool:
        return self.command.allowed is None or bool(self.command.allowed(requester, target))

    def _request(self, sess: CommandSession) -> CommandRequest:
        return CommandRequest(self.node, sess.target, sess.owner, sess.id, dict(sess.values))

    async def pages(self, sess: CommandSession) -> list[list[forms.Field]]:
        stages = self.command.stages
        if callable(stages):
            stages = await _maybe_await(stages(self._request(sess)))
        # Fresh copies: a session fills in its own values.
        return [[forms.Field(f.var, f.type, f.label, f.desc, f.required, list(f.values), list(f.options),
                             f.validate) for f in stage] for stage in stages if stage]

    async def execute(self, sess: CommandSession) -> Reply:
        try:
            reply = await _maybe_await(self.command.execute(self._request(sess)))
        except forms.FormError as exc:
            raise bad_payload(str(exc)) from None
        if not isinstance(reply, Reply) and hasattr(reply, "status"):
            reply = _as_reply(reply)  # from a module below `commands` (the same shape)
        if not isinstance(reply, Reply) or reply.status == "executing":
            raise TypeError(f"{self.node}: execute must return a completed or canceled Reply")
        return reply
