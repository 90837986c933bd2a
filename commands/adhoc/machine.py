"""The XEP-0050 session machine: disco of command nodes (§2.1, §2.2) and execution (§2.4,
§3.3-§3.5, §4.4) for every node of every JID — the registry's commands at a hosted domain
(`commands.adhoc.registry_nodes`) and the commands providers offer (`commands.adhoc.provider`).

Sessions belong to the (requester full JID, target JID, node) they were started with; a
completed, canceled or timed-out session's id answers <session-expired/>.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from lxml import etree

from accounts.signals import keeping
from commands.adhoc.book import SessionBook
from commands.adhoc.errors import CommandFailure, bad_payload
from commands.adhoc.protocol import ACTIONS, CommandSession, Node, Reply, command_element
from commands.adhoc.provider import PROVIDER_EVENT, ProvidedNode
from commands.adhoc.registry_nodes import registry_nodes
from commands.adhoc.runs import Runs
from commands.permissions import actor_for_jid
from xmppcore import forms, ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result

if TYPE_CHECKING:
    from xmppd.server import Server
    from xmppd.sessions import Session

SESSION_TIMEOUT = 600.0  # seconds a command session may stay idle
NODE_FEATURES = (ns.COMMANDS, ns.DATA_FORMS, ns.XDATA_VALIDATE, ns.XDATA_LAYOUT)


def _target(stanza: Stanza) -> JID | None:
    # RFC 6120 §10.3.3: no 'to' is the sender's own account.
    if stanza.to is not None:
        return stanza.to
    return stanza.from_.bare if stanza.from_ is not None else None


class AdHoc:
    """The command sessions of this process, and the handlers of the module."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.book = SessionBook()
        self.sessions = self.book.sessions
        self.ended = self.book.ended
        self.runs = Runs(server, self.sessions)

    # -- the nodes of a JID ---------------------------------------------------------------------
    async def nodes_at(self, target: JID, requester: JID) -> list[Node] | None:
        """Every command node at `target` (None: no commands are offered there at all)."""
        nodes: list[Node] | None = None
        if target.local is None and target.resource is None and target.domain in self.server.config.domains:
            nodes = registry_nodes(self.server, self.runs)
        provider = await self.server.hooks.fire(PROVIDER_EVENT, target)
        if provider is not None:
            nodes = (nodes or []) + [ProvidedNode(c) for c in provider.commands(target, requester)]
        return nodes

    async def _find(self, stanza: Stanza, node: str) -> tuple[JID, Node] | None:
        target = _target(stanza)
        if target is None or stanza.from_ is None:
            return None
        nodes = await self.nodes_at(target, stanza.from_)
        if nodes is None:
            return None
        found = next((n for n in nodes if n.node == node), None)
        if found is None:
            raise StanzaError("item-not-found", "no such command")
        if not found.allows(stanza.from_, target):
            raise StanzaError("forbidden", "you may not run this command")  # §2.2: 403
        return target, found

    # -- disco (XEP-0050 §2.1, §2.2) --------------------------------------------------------------
    async def disco_items(self, stanza: Stanza, query: etree._Element) -> bool | None:
        target = _target(stanza)
        if query.get("node") != ns.COMMANDS or target is None:
            return None
        nodes = await self.nodes_at(target, stanza.from_) if stanza.from_ is not None else []
        if nodes is None:
            return None
        for node in nodes:
            if stanza.from_ is not None and node.allows(stanza.from_, target):
                etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=str(target), node=node.node,
                                 name=node.name)
        return True

    async def disco_info(self, stanza: Stanza, query: etree._Element) -> bool | None:
        node = query.get("node")
        target = _target(stanza)
        if node is None or target is None:
            return None
        if node == ns.COMMANDS:  # §2.2: the command list node
            if stanza.from_ is None or await self.nodes_at(target, stanza.from_) is None:
                return None
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="automation",
                             type="command-list", name="Commands")
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=ns.COMMANDS)
            return True
        try:
            found = await self._find(stanza, node)
        except StanzaError as exc:
            if exc.condition == "item-not-found":
                return None  # another module's node, maybe
            raise
        if found is None:
            return None
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="automation",
                         type="command-node", name=found[1].name)
        for var in NODE_FEATURES:
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=var)
        return True

    # -- execution (XEP-0050 §2.4) ----------------------------------------------------------------
    async def on_command(self, stanza: Stanza) -> etree._Element | None:
        with keeping(stanza.origin):  # one's own password change spares this session
            return await self._on_command(stanza)

    async def _on_command(self, stanza: Stanza) -> etree._Element | None:
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
            found = await self._find(stanza, node)
            if found is None:
                return None  # no commands at this JID: not ours to answer
            sess, reply = await self._start(stanza, found[0], found[1], action, el)
        else:
            sess = self._session(stanza, node, sessionid)
            self.book.touch(sess, time.monotonic())
            try:
                reply = await self._continue(sess, action, el)
            except Exception:
                if sess.closed:
                    self._end(sess)
                raise
        if reply.status != "executing":
            self._end(sess)
        return iq_result(stanza, command_element(node, sess.id, reply))

    async def _start(self, stanza: Stanza, target: JID, node: Node, action: str,
                     el: etree._Element) -> tuple[CommandSession, Reply]:
        if action in ("cancel", "prev"):
            raise CommandFailure("bad-request", "bad-action", f"nothing to {action}: no session yet")
        assert stanza.from_ is not None
        sess = CommandSession(secrets.token_hex(8), node, stanza.from_, target,
                              actor_for_jid(stanza.from_, "adhoc"))
        for oldest in self.book.add(sess):  # the user's cap: their oldest session expires
            self._end(oldest)
        try:
            sess.pages = await node.pages(sess)
            if not sess.pages:  # nothing to ask: a single stage that completes at once
                return sess, await node.execute(sess)
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
        if sess.owner != stanza.from_ or sess.node.node != node or sess.target != _target(stanza):
            raise CommandFailure("bad-request", "bad-sessionid", "this session belongs to another requester or node")
        return sess

    async def _continue(self, sess: CommandSession, action: str, el: etree._Element) -> Reply:
        if sess.run_id is not None:
            return await sess.node.follow(sess, action)
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
        return await sess.node.execute(sess)

    def _accept(self, sess: CommandSession, el: etree._Element) -> None:
        """Check the submitted form of the current stage (XEP-0004 §3.3, XEP-0122) and keep it."""
        x = forms.find_form(el)
        if x is None:
            raise bad_payload("submit the stage's data form")
        try:
            submitted = forms.parse_form(x)
            definition = forms.Form(fields=list(sess.pages[sess.stage]))
            if sess.node.form_type is not None:
                definition.fields.insert(0, forms.Field(forms.FORM_TYPE, "hidden", values=[sess.node.form_type]))
            values = forms.check_submission(definition, submitted)
        except forms.FormError as exc:
            raise bad_payload(str(exc)) from None
        for f in sess.pages[sess.stage]:
            if f.var in values:
                sess.values[f.var] = values[f.var]
            else:
                sess.values.pop(f.var, None)

    def _stage(self, sess: CommandSession) -> Reply:
        """The form of the current stage, with its <actions/> (§3.4) and XEP-0141 page."""
        node = sess.node
        page = sess.pages[sess.stage]
        form = forms.Form(type="form", title=node.name)
        if node.instructions():
            form.instructions.append(node.instructions())
        if node.form_type is not None:
            form.add(forms.Field(forms.FORM_TYPE, "hidden", values=[node.form_type]))
        for f in page:
            shown = forms.Field(f.var, f.type, f.label, f.desc, f.required, list(f.values), list(f.options),
                                f.validate)
            if f.var in sess.values and f.type != "text-private":
                shown.values = list(sess.values[f.var])  # what the requester entered before (prev)
            form.add(shown)
        if len(sess.pages) > 1:
            form.pages = [self._layout(sess, page)]
        actions: list[str] = ["prev"] if sess.stage > 0 else []
        actions.append("complete" if sess.is_last else "next")
        return Reply("executing", form=form, actions=tuple(actions), default=actions[-1])

    @staticmethod
    def _layout(sess: CommandSession, page: list[forms.Field]) -> forms.Page:
        # XEP-0141 §3.1: one page per stage, required and optional fields in their own sections.
        layout = forms.Page(f"Step {sess.stage + 1} of {len(sess.pages)}")
        layout.add_text(sess.node.description())
        required = [f.var for f in page if f.required]
        optional = [f.var for f in page if not f.required]
        if required:
            layout.add_section(forms.Section("Required").add_fieldref(*required))
        if optional:
            layout.add_section(forms.Section("Optional").add_fieldref(*optional))
        return layout

    # -- bookkeeping ------------------------------------------------------------------------------
    def _end(self, sess: CommandSession) -> None:
        """§3.3: a completed or canceled session's id is never valid again."""
        if self.book.end(sess):
            self.runs.forget(sess)

    def _sweep(self) -> None:
        """Time out idle sessions, oldest first, stopping at the first one still fresh (O(1)
        per request when none expired); one whose command still runs lives until delivered."""
        now = time.monotonic()
        while (sess := self.book.oldest()) is not None and now - sess.touched > SESSION_TIMEOUT:
            if sess.run_id is None or sess.delivered:
                self._end(sess)
            else:
                self.book.touch(sess, now)  # looked at again one timeout later

    def session_closed(self, session: "Session", *_: Any) -> None:
        for sess in self.book.of_owner(session.jid.bare):
            if sess.owner == session.jid and sess.run_id is None:
                self._end(sess)
