"""The commands app's Celery tasks, where Celery's autodiscovery looks for them (`<app>.tasks`).

The task and the run bookkeeping around it live in `commands.execution`.
"""

from __future__ import annotations

from commands.execution import run_command

__all__ = ["run_command"]
