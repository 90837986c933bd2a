"""`manage.py xmppctl <command> [--arg value ...]`: any registry command from the shell
(ejabberdctl parity); `manage.py xmppctl help [command]` lists them with their arguments.

How a command reaches the server: when `manage.py xmppd` runs, it keeps a local admin token
and its API address in `<XMPP_DATA_DIR>/xmppctl.json` (mode 0600, rewritten at each start);
xmppctl then sends every command to the running server over the local REST API (POST
/api/commands/<name>), so live commands (sessions, kick, announcements, stats, reload) act on
the real sessions and long ones run on its Celery worker (progress is shown; Ctrl-C cancels).
When no server runs, commands that only need the database run in this process; the others
fail with a clear message. `--url` and `--token` talk to any server's API with an API token.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from commands import registry
from commands import execution
from commands.validation import to_json, validate
from commands.registry import Actor
from commands.registry import Command as RegistryCommand
from commands.live import token_path

CLI_ACTOR = Actor(jid=None, is_server_admin=True, admin_domains=frozenset(), source="cli", label="cli")
HTTP_TIMEOUT = 30.0
POLL_INTERVAL = 0.2


def parse_args(cmd: RegistryCommand, words: list[str]) -> dict[str, Any]:
    """`--name value`, `--name=value`; a bool alone is true, `--no-name` false; jids and
    list-multi arguments may repeat. Dashes and underscores are the same in names."""
    by_name = {a.name.replace("_", "-"): a for a in cmd.args}
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--"):
            raise CommandError(f"unexpected {word!r}: arguments are --name value (see: xmppctl help {cmd.name})")
        name, eq, value = word[2:].partition("=")
        name = name.replace("_", "-")
        negated = name.startswith("no-") and name[3:] in by_name and by_name[name[3:]].type == "bool"
        arg = by_name.get(name[3:] if negated else name)
        if arg is None:
            raise CommandError(f"{cmd.name} has no argument --{name} (see: xmppctl help {cmd.name})")
        if arg.type == "bool" and not eq:
            value = "false" if negated else "true"
        elif not eq:
            i += 1
            if i >= len(words):
                raise CommandError(f"--{name} needs a value")
            value = words[i]
        if arg.type in ("jids", "list-multi"):
            out.setdefault(arg.name, []).append(value)
        else:
            out[arg.name] = value
        i += 1
    return out


def format_result(cmd: RegistryCommand, result: Any) -> str:
    """Human output: one line per item, aligned tables, `key: value` for dicts."""
    if cmd.result == "none" or result is None:
        return "ok"
    if isinstance(result, list) and cmd.result == "table":
        columns = list(cmd.columns) or sorted({k for row in result for k in row})
        rows = [[_cell(row.get(c)) for c in columns] for row in result]
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines)
    if isinstance(result, list):
        return "\n".join(_cell(v) for v in result)
    if isinstance(result, dict):
        return "\n".join(f"{k}: {_cell(v)}" for k, v in result.items())
    return _cell(result)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def describe(cmd: RegistryCommand, verbose: bool = False) -> str:
    args = " ".join(f"--{a.name.replace('_', '-')}" + ("" if a.type == "bool" else f" <{a.type}>")
                    if a.required else f"[--{a.name.replace('_', '-')}" + ("" if a.type == "bool" else f" <{a.type}>") + "]"
                    for a in cmd.args)
    line = f"  {cmd.name} {args}".rstrip()
    if not verbose:
        return f"{line}\n      {cmd.description}"
    lines = [line, "", f"  {cmd.description}", "",
             f"  permission: {cmd.permission}; result: {cmd.result}"
             + ("; runs as a task" if cmd.long_running else "") + ("; needs the running server" if cmd.live else "")]
    if cmd.xep0133_node:
        lines.append(f"  XEP-0133 node: {cmd.xep0133_node}")
    for a in cmd.args:
        extra = []
        if a.choices:
            extra.append("one of " + ", ".join(a.choices))
        if a.min is not None or a.max is not None:
            extra.append(f"range {a.min if a.min is not None else ''}..{a.max if a.max is not None else ''}")
        if a.default is not None:
            extra.append(f"default {to_json(a.default)}")
        detail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"    --{a.name.replace('_', '-')}: {a.type}{'' if a.required else ', optional'}{detail}"
                     f" — {a.help or a.title}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Run an operator command (`xmppctl help` lists them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="command name, or help")
        parser.add_argument("words", nargs="*", help="--arg value ...")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the result as JSON")
        parser.add_argument("--url", default="", help="API base URL (default: the local xmppd)")
        parser.add_argument("--token", default="", help="API token (default: the local xmppd's)")
        parser.add_argument("--no-wait", action="store_true", help="do not wait for a task to finish")

    def run_from_argv(self, argv: list[str]) -> None:
        # Command arguments look like options (--jid ...): keep them away from argparse.
        known = {"--json", "--no-wait", "--url", "--token", "--traceback", "--no-color", "--force-color"}
        head, tail = argv[:2], argv[2:]
        ours: list[str] = []
        words: list[str] = []
        i = 0
        while i < len(tail):
            word = tail[i]
            key = word.split("=", 1)[0]
            if key in known or key in ("--settings", "--pythonpath", "--verbosity", "-v"):
                ours.append(word)
                if key in ("--url", "--token", "--settings", "--pythonpath", "--verbosity", "-v") and "=" not in word:
                    i += 1
                    if i < len(tail):
                        ours.append(tail[i])
            else:
                words.append(word)
            i += 1
        positional = [w for w in words[:1] if not w.startswith("--")]
        super().run_from_argv(head + ours + positional + (["--"] + words[1:] if words[1:] else []))

    def handle(self, *args: Any, **opts: Any) -> None:
        name, words = opts["name"], list(opts["words"])
        if name == "help":
            self.stdout.write(self.help_text(words[0] if words else None))
            return
        try:
            cmd = registry.get(name)
        except registry.CommandError:
            raise CommandError(f"no command {name!r} (xmppctl help lists them)") from None
        raw = parse_args(cmd, words)
        try:
            result = self.execute_command(cmd, raw, opts)
        except registry.CommandError as exc:
            raise self.failure(exc.code, exc.message, exc.fields) from None
        if opts["as_json"]:
            self.stdout.write(json.dumps(to_json(result), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(format_result(cmd, to_json(result)))

    def help_text(self, name: str | None) -> str:
        if name is not None:
            try:
                return describe(registry.get(name), verbose=True)
            except registry.CommandError:
                raise CommandError(f"no command {name!r}") from None
        out = ["Usage: manage.py xmppctl <command> [--arg value ...] [--json]", ""]
        category = None
        for cmd in registry.all_commands():
            if cmd.category != category:
                category = cmd.category
                out.append(f"{category}:")
            out.append(describe(cmd))
        out += ["", "manage.py xmppctl help <command> shows one command's arguments."]
        return "\n".join(out)

    @staticmethod
    def failure(code: str, message: str, fields: dict[str, str] | None = None) -> CommandError:
        """A command that ran and failed, with its registry error code and field errors."""
        detail = "".join(f"\n  --{k.replace('_', '-')}: {v}" for k, v in (fields or {}).items())
        return CommandError(f"{code}: {message}{detail}")

    # -- where the command runs ---------------------------------------------------------
    def execute_command(self, cmd: RegistryCommand, raw: dict[str, Any], opts: dict[str, Any]) -> Any:
        validate(cmd, raw)  # argument errors first, wherever the command runs
        endpoint = self.endpoint(opts)
        if endpoint is not None:
            return self.remote(cmd, raw, endpoint, opts)
        if cmd.live or cmd.long_running:
            raise CommandError(f"{cmd.name} needs the running server, and none is running here "
                               f"(no {token_path(settings.XMPP_DATA_DIR)}): start manage.py xmppd")
        return asyncio.run(execution.run(cmd.name, CLI_ACTOR, raw))

    @staticmethod
    def endpoint(opts: dict[str, Any]) -> tuple[str, str] | None:
        """(API base URL, token): given, or the local xmppd's when it is running."""
        if opts["url"] or opts["token"]:
            if not (opts["url"] and opts["token"]):
                raise CommandError("--url and --token go together")
            return opts["url"].rstrip("/"), opts["token"]
        path = token_path(settings.XMPP_DATA_DIR)
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(int(info.get("pid", 0)), 0)
        except (OSError, ValueError):
            return None  # a file left by a server that died
        return str(info["url"]).rstrip("/"), str(info["token"])

    def remote(self, cmd: RegistryCommand, raw: dict[str, Any], endpoint: tuple[str, str], opts: dict[str, Any]) -> Any:
        # Types are checked here (strings from the shell → JSON values) and again by the server.
        body = to_json(validate(cmd, raw))
        body = {k: v for k, v in body.items() if v is not None and v != []}
        base, token = endpoint
        paged = cmd.result in ("list", "table") and not cmd.long_running
        path = f"/api/commands/{cmd.name}" + ("?page_size=500" if paged else "")
        status, data = http(base, token, "POST", path, body)
        if status == 202:
            task_id = data["task_id"]
            if opts["no_wait"]:
                self.stderr.write(f"queued as task {task_id} (xmppctl task_status --task-id {task_id})")
                return data
            return self.wait(base, token, task_id)
        result = data.get("result")
        while paged and data.get("next"):
            status, data = http(base, token, "POST", data["next"], body)
            result += data.get("result") or []
        return result

    def wait(self, base: str, token: str, task_id: str) -> Any:
        """Poll a task, showing its progress; Ctrl-C cancels it."""
        last = None
        try:
            while True:
                _, run = http(base, token, "GET", f"/api/tasks/{task_id}")
                progress = run["progress"]
                shown = (run["status"], progress["done"], progress["total"])
                if shown != last and run["status"] == "running":
                    self.stderr.write(f"{task_id}: {progress['done']}/{progress['total']} {progress['note']}")
                last = shown
                if run["status"] == "done":
                    return run["result"]
                if run["status"] in ("failed", "cancelled"):
                    error = run.get("error") or {"code": "internal", "message": run["status"]}
                    raise self.failure(error.get("code", "internal"), error.get("message", run["status"]))
                time.sleep(POLL_INTERVAL)
        except KeyboardInterrupt:
            http(base, token, "DELETE", f"/api/tasks/{task_id}")
            raise CommandError(f"cancelled task {task_id}") from None


def http(base: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request to the API; API errors become CommandError with their code and fields."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            raise CommandError(f"HTTP {exc.code} from {base}") from None
        raise Command.failure(error.get("code", "internal"), error.get("message", ""), error.get("fields")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(f"cannot reach the server at {base}: {exc}") from None
