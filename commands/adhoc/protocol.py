"""XEP-0050 values shared by every command node: the reply of a stage, the <command/>
element, a command session, and `Node`, what the session machine asks of a command — the
registry's commands (`commands.adhoc.registry_nodes`) and the commands components provide
(`commands.adhoc.provider`) alike."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from commands.adhoc.errors import CommandFailure
from xmppcore import forms, ns
from xmppcore.jid import JID

ACTIONS = frozenset({"execute", "cancel", "prev", "next", "complete"})  # XEP-0050 §4.1


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



class Node(ABC):
    """One command node offered at a JID (XEP-0050 §2.2): its stages and its execution."""

    node: str
    name: str
    form_type: str | None = None  # XEP-0068 FORM_TYPE of its stage forms, if any

    def instructions(self) -> str:
        """The <instructions/> of its stage forms ("" for none)."""
        return ""

    def description(self) -> str:
        """The text heading each XEP-0141 page of a multi-stage form."""
        return self.name

    @abstractmethod
    def allows(self, requester: JID, target: JID) -> bool:
        """Whether `requester` may see and start it (§2.2: others get <forbidden/>)."""
        ...

    @abstractmethod
    async def pages(self, sess: "CommandSession") -> list[list[forms.Field]]:
        """The fields of each stage, fresh for this session (no stage: it runs at once)."""
        ...

    @abstractmethod
    async def execute(self, sess: "CommandSession") -> Reply:
        """Run with the checked values of every stage (`sess.values`)."""
        ...

    async def follow(self, sess: "CommandSession", action: str) -> Reply:
        """A session whose execution goes on in the background (`sess.run_id`): the answer to
        a further request of its requester."""
        # Only nodes that hand their execution to a background run (registry commands on
        # Celery) are ever asked this; for the others no session has a run to follow.
        raise CommandFailure("bad-request", "bad-sessionid", "this command does not run in the background")


@dataclass
class CommandSession:
    """One execution of a command by one requester (XEP-0050 §3.3 "Session Lifetime")."""

    id: str
    node: Node
    owner: JID  # the requester's full JID: the session is valid for that pair only
    target: JID  # the JID the command was sent to (a hosted domain, a component, an entity)
    actor: Any  # who the node runs it for (the registry's Actor; None for provided commands)
    pages: list[list[forms.Field]] = field(default_factory=list)
    stage: int = 0
    values: dict[str, list[str]] = field(default_factory=dict)
    run_id: str | None = None  # a background execution this session follows
    delivered: bool = False  # its outcome has reached the requester
    closed: bool = False  # set by a node whose failure ends the session (§3.3)
    touched: float = field(default_factory=time.monotonic)

    @property
    def domain(self) -> str:
        return self.target.domain

    @property
    def is_last(self) -> bool:
        return self.stage >= len(self.pages) - 1

    def page_of(self, var: str) -> int | None:
        for i, page in enumerate(self.pages):
            if any(f.var == var for f in page):
                return i
        return None
