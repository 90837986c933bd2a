"""Runs of long commands: status with progress, cancel, list (own runs; server admins: all)."""

from __future__ import annotations

from typing import Any

from commands import actions, execution
from commands.models import CommandRun
from commands.registry import Actor, Arg, Command, CommandError, Context


def visible_run(actor: Actor, task_id: str) -> CommandRun:
    """The run if `actor` may see it (server admins, or whoever started it); else not-found."""
    try:
        run = actions.get_run(task_id)
    except actions.NotFound:
        raise CommandError("not-found", f"no task {task_id}") from None
    if not actor.is_server_admin and run.owner != actor.owner:
        raise CommandError("not-found", f"no task {task_id}")
    return run


def task_status(ctx: Context, task_id: str) -> dict[str, Any]:
    return actions.run_as_dict(visible_run(ctx.actor, task_id))


def task_cancel(ctx: Context, task_id: str) -> dict[str, Any]:
    visible_run(ctx.actor, task_id)
    return actions.run_as_dict(execution.cancel(task_id))


def list_tasks(ctx: Context, limit: int) -> list[dict[str, Any]]:
    runs = CommandRun.objects.all()
    if not ctx.actor.is_server_admin:
        runs = runs.filter(owner=ctx.actor.owner)
    return [{"id": str(r.id), "command": r.command, "status": r.status, "done": r.done, "total": r.total,
             "created_at": r.created_at} for r in runs[:limit]]


TASK_ID = Arg("task_id", "string", label="Task id", regex=r"[0-9a-fA-F-]{32,36}")
COMMANDS = (
    Command("task_status", "A long command's status, progress and result.", (TASK_ID,), "dict", "user",
            task_status, category="tasks", read_only=True),
    Command("task_cancel", "Cancel a long command (it stops at its next check).", (TASK_ID,), "dict", "user",
            task_cancel, category="tasks"),
    Command("list_tasks", "The latest runs of long commands.",
            (Arg("limit", "int", label="How many", required=False, default=20, min=1, max=500),), "table",
            "user", list_tasks, category="tasks", read_only=True,
            columns=("id", "command", "status", "done", "total", "created_at")),
)
