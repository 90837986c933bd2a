"""The built-in commands: one small module per command or group; each exposes `COMMANDS`."""

from __future__ import annotations

import importlib

from commands.registry import register

MODULES = (
    "commands.builtin.accounts",
    "commands.builtin.sessions",
    "commands.builtin.rosters",
    "commands.builtin.vcards",
    "commands.builtin.pubsub",
    "commands.builtin.messages",
    "commands.builtin.offline",
    "commands.builtin.export",
    "commands.builtin.server",
    "commands.builtin.tokens",
    "commands.builtin.runs",
    "commands.builtin.muc",
)


def load_builtin() -> None:
    for path in MODULES:
        for cmd in importlib.import_module(path).COMMANDS:
            register(cmd)
