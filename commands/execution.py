"""Running registry commands: at once (`run`, `call`), or as Celery tasks for long ones
(DESIGN.md: tasks take ids, are idempotent, enqueued on commit).

`run` validates (`commands.validation`), authorizes (`commands.permissions`) and calls the
command; a long-running one is recorded by `enqueue` as a `CommandRun` whose task
`run_command(run_id)` is sent when the transaction commits. The task marks the run running
(once: a duplicate delivery does nothing), calls the command with a Context whose `progress`
writes the run's progress and whose `check_cancelled` reads its cancel flag, and records the
result or the error. `cancel` sets the flag (and revokes the message if it is still queued).

Hook fired on the running server of this process (if any) when a run ends:
  commands/run-finished (run: dict as `actions.run_as_dict`) — the ad-hoc face sends the
  result to the operator as a message.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from celery import shared_task
from django.db import close_old_connections, transaction

from commands import actions, live, worker
from commands.models import CommandRun
from commands.permissions import check_permission
from commands.registry import Actor, Cancelled, Command, CommandError, Context, get
from commands.validation import to_json, validate
from xmppd.storage import db

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 0.2  # seconds between progress writes / cancel-flag reads


def _server() -> Any:
    running = live.current(build=True)
    assert running is not None  # built from settings when none runs here
    return running.server


def context(actor: Actor, cmd: Command, **kwargs: Any) -> Context:
    """The Context a command runs with: its server is the one `commands.live` finds."""
    return Context(actor=actor, command=cmd, find_server=_server, **kwargs)


async def call(cmd: Command, ctx: Context, args: dict[str, Any]) -> Any:
    """Call `cmd.fn`: coroutine functions on the loop, plain (ORM) ones in the DB thread."""
    if inspect.iscoroutinefunction(cmd.fn):
        return await cmd.fn(ctx, **args)
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
        run_id = await db(enqueue, cmd, actor, raw_args)
        return {"task_id": run_id}
    return await call(cmd, context(actor, cmd), args)


# -- long-running commands (Celery) ---------------------------------------------------------

def enqueue(cmd: Command, actor: Actor, raw_args: dict[str, Any]) -> str:
    """Record a run of `cmd` and send its task on commit; returns the run id (sync, ORM)."""
    run = actions.do_create_run(cmd.name, to_json(raw_args), actor.as_dict(), actor.owner)
    run_id = str(run.id)
    transaction.on_commit(lambda: send(run_id))
    return run_id


def send(run_id: str) -> None:
    if worker.is_embedded():
        worker.ensure_started()
    run_command.apply_async(args=[run_id], task_id=run_id)


def cancel(run_id: str) -> CommandRun:
    """Ask a run to stop: the task sees the flag at its next check; a queued one never starts."""
    run = actions.do_request_cancel(run_id)
    try:
        run_command.app.control.revoke(run_id)
    except Exception as exc:  # the cooperative flag is what counts; revoke only saves a wake-up
        log.debug("revoke of %s failed: %s", run_id, exc)
    return run


@shared_task(name="commands.run_command", ignore_result=True)
def run_command(run_id: str) -> None:
    close_old_connections()
    try:
        execute(run_id)
    finally:
        close_old_connections()


class _Reporter:
    """Progress and cancel checks for one run, throttled to one database access per interval."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.last_write = 0.0
        self.last_check = 0.0
        self.cancelled = False

    def progress(self, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        if now - self.last_write >= PROGRESS_INTERVAL or (total and done >= total):
            self.last_write = now
            actions.do_record_progress(self.run_id, done, total, note)

    def is_cancelled(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= PROGRESS_INTERVAL:
            self.last_check = now
            self.cancelled = actions.is_cancel_requested(self.run_id)
        return self.cancelled


def execute(run_id: str) -> None:
    """Run a recorded command once (idempotent: a run that is not queued is left alone)."""
    if not actions.do_start_run(run_id):
        return
    run = actions.get_run(run_id)
    status, result, error = CommandRun.DONE, None, None
    try:
        cmd = get(run.command)
        args = validate(cmd, run.args)
        reporter = _Reporter(run_id)
        ctx = context(Actor.from_dict(run.actor), cmd, run_id=run_id, on_progress=reporter.progress,
                      is_cancelled=reporter.is_cancelled)
        result = cmd.fn(ctx, **args)
        if inspect.isawaitable(result):
            awaitable = result
            result = live.on_server(lambda: awaitable)
        result = to_json(result)
    except Cancelled:
        status = CommandRun.CANCELLED
    except CommandError as exc:
        status, error = CommandRun.FAILED, exc.as_dict()
    except Exception as exc:
        log.exception("command run %s (%s) failed", run_id, run.command)
        status, error = CommandRun.FAILED, {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
    actions.do_finish_run(run_id, status, result=result, error=error)
    _notify(run_id)


def _notify(run_id: str) -> None:
    running = live.current()
    if running is None or running.loop is None:
        return
    server, loop = running.server, running.loop
    data = actions.run_as_dict(actions.get_run(run_id))
    loop.call_soon_threadsafe(lambda: loop.create_task(server.hooks.fire_all("commands/run-finished", data)))
