"""Long-running registry commands in XEP-0050 sessions (Celery, `commands.execution`): the
first answer is status='executing' with a note; executing the same session again shows the
progress, `cancel` stops the run, and the result also arrives as a message.

Hooks handled (by `commands.adhoc.module`):
  commands/run-finished (run dict): the result of a long command, as a message to its operator
  server/stopping: stop the progress poller
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from lxml import etree

from commands import actions, execution, live
from commands.adhoc.errors import CommandFailure
from commands.adhoc.fields import result_form
from commands.adhoc.protocol import CommandSession, Reply, command_element
from commands.registry import Command
from xmppcore import forms, ns
from xmppcore.stanza import make
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
POLL_INTERVAL = 2.0  # seconds between checks of long runs (workers in other processes)


def _cmd(sess: CommandSession) -> Command:
    return sess.node.cmd  # type: ignore[attr-defined]  # a RegistryNode's


class Runs:
    """The runs that command sessions of this process follow."""

    def __init__(self, server: "Server", sessions: dict[str, CommandSession]) -> None:
        self.server = server
        self.sessions = sessions
        self.by_run: dict[str, str] = {}  # run id -> session id
        self.poller: asyncio.Task[None] | None = None

    def forget(self, sess: CommandSession) -> None:
        if sess.run_id is not None:
            self.by_run.pop(sess.run_id, None)

    def started(self, sess: CommandSession, result: Any) -> Reply:
        sess.run_id = str(result["task_id"]) if isinstance(result, dict) and "task_id" in result else None
        if sess.run_id is None:
            return Reply("completed", form=result_form(_cmd(sess), result))
        self.by_run[sess.run_id] = sess.id
        self._ensure_poller()
        return Reply("executing", actions=("next",), default="next", notes=[(
            "info", f"{_cmd(sess).name} is running as task {sess.run_id}. Execute this session again "
                    "to see its progress, or cancel it; the result will also come as a message.")],
            form=self._progress_form(sess, {"status": "queued", "progress": {"done": 0, "total": 0, "note": ""}}))

    async def follow(self, sess: CommandSession, action: str) -> Reply:
        """A session whose command runs: execute/next show progress, cancel stops it."""
        run_id = sess.run_id
        assert run_id is not None
        if action == "cancel":
            run = await db(execution.cancel, run_id)
            if run.status in ("done", "failed"):
                state = f"it had already finished ({run.status})"
            else:
                state = "cancelled" if run.status == "cancelled" else "cancellation requested"
            return Reply("canceled", notes=[("info", f"{_cmd(sess).name}: {state}.")])
        if action == "prev":
            raise CommandFailure("bad-request", "bad-action", "the command is running")
        run = actions.run_as_dict(await db(actions.get_run, run_id))
        if run["status"] in ("done", "failed", "cancelled"):
            sess.delivered = True  # the requester has it now: no message needed
            return self.finished_reply(sess, run)
        progress = run["progress"]
        text = f"{run['status']}: {progress['done']} of {progress['total'] or '?'}"
        if progress["note"]:
            text += f" ({progress['note']})"
        return Reply("executing", actions=("next",), default="next", notes=[("info", text)],
                     form=self._progress_form(sess, run))

    @staticmethod
    def _progress_form(sess: CommandSession, run: dict[str, Any]) -> forms.Form:
        progress = run["progress"]
        return forms.Form(type="result", title=f"{_cmd(sess).name}: progress", fields=[
            forms.Field("status", "text-single", label="Status", values=[run["status"]]),
            forms.Field("done", "text-single", label="Done", values=[str(progress["done"])]),
            forms.Field("total", "text-single", label="Total", values=[str(progress["total"])]),
            forms.Field("note", "text-single", label="Note", values=[progress["note"] or ""])])

    @staticmethod
    def finished_reply(sess: CommandSession, run: dict[str, Any]) -> Reply:
        cmd = _cmd(sess)
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
        reply = self.finished_reply(sess, run)
        msg = make("message", to=sess.owner, from_=sess.domain, type_="normal", id_=f"adhoc-{secrets.token_hex(6)}")
        etree.SubElement(msg, ns.q(ns.CLIENT, "subject")).text = f"{_cmd(sess).name}: {run['status']}"
        body = "; ".join(text for _, text in reply.notes) or run["status"]
        etree.SubElement(msg, ns.q(ns.CLIENT, "body")).text = body
        etree.SubElement(msg, ns.q(ns.CLIENT, "thread")).text = sess.id
        msg.append(command_element(sess.node.node, sess.id, reply))
        await live.route(self.server, msg)

    def _ensure_poller(self) -> None:
        if self.poller is None or self.poller.done():
            self.poller = asyncio.get_running_loop().create_task(self._poll(), name="xep-0050 run poller")

    async def _poll(self) -> None:
        """Runs finished by workers in other processes fire no hook here: look them up."""
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
