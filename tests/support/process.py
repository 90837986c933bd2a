"""One way to run the server (or any command) as a subprocess: environment, start, readiness,
stop, and its output in every failure message."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from tests.support.ports import HOST, accepts, free_ports
from tests.support.waiting import wait_for, wait_for_sync

ROOT = Path(__file__).resolve().parents[2]
MANAGE = (sys.executable, "manage.py")
START_TIMEOUT = 20.0
EXIT_TIMEOUT = 5.0
# `manage.py xmppd` reads its ports from these variables (xmppsite/settings.py).
PORT_VARS = {"c2s": "XMPP_C2S_PORT", "tls": "XMPP_TLS_PORT", "http": "XMPP_HTTP_PORT",
             "https": "XMPP_HTTPS_PORT"}
XMPPD_PORTS = tuple(PORT_VARS)


def child_env(data: Path, *, drop: Iterable[str] = (), **extra: str) -> dict[str, str]:
    """This process's environment without the variables in `drop` (a trailing `*` drops a prefix),
    with a private data dir and SQLite file under `data`, bound to loopback, then `extra`."""
    drop = tuple(drop)
    exact = {d for d in drop if not d.endswith("*")}
    prefixes = tuple(d[:-1] for d in drop if d.endswith("*"))
    env = {k: v for k, v in os.environ.items() if k not in exact and not k.startswith(prefixes or ("\0",))}
    env.update({"XMPP_DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
                "XMPP_BIND": HOST, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`manage.py <args>` to completion; with `check`, a non-zero status fails with its output."""
    done = subprocess.run([*MANAGE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def migrate_with_users(env: dict[str, str], *users: str, password: str = "secret") -> None:
    """Migrate the subprocess's database and create `users` (user@localhost), in one process."""
    script = ("from django.core.management import call_command; call_command('migrate', verbosity=0); "
              "from accounts.actions import do_create_account; "
              f"[do_create_account(user, 'localhost', {password!r}) for user in {list(users)!r}]")
    manage(env, "shell", "-c", script)


@dataclass
class Spawned:
    """A running subprocess, its ports (by name) and the files its output goes to."""

    name: str
    proc: subprocess.Popen
    stdout: Path
    stderr: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def stop(self, timeout: float = EXIT_TIMEOUT) -> int:
        """SIGTERM (the server then closes its streams cleanly), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=10)

    async def wait_exit(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Its exit status, without blocking the event loop; fails with its output if it runs on."""
        try:
            await wait_for(lambda: self.proc.poll() is not None, timeout, what=f"{self.name} to exit")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None
        return self.proc.returncode


def spawn(argv: Sequence[str], *, env: dict[str, str], workdir: Path, name: str,
          wait_ports: Iterable[int] = (), ready: str | None = None,
          ports: dict[str, int] | None = None, timeout: float = START_TIMEOUT) -> Spawned:
    """Start `argv` in the project root; return once every port of `wait_ports` accepts a
    connection and `ready` (if given) is on its stdout. On failure it is stopped and the
    assertion carries its output."""
    stdout, stderr = workdir / f"{name}.out", workdir / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    running = Spawned(name, proc, stdout, stderr, env, dict(ports or {}))
    wait_ports = list(wait_ports)

    def is_ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with status {proc.returncode} before it was ready")
        return (ready is None or ready in stdout.read_text()) and all(accepts(p) for p in wait_ports)

    try:
        wait_for_sync(is_ready, timeout, what=f"{name} to listen on {wait_ports} and print {ready!r}")
    except AssertionError as exc:
        running.stop()
        raise AssertionError(f"{exc}:\n{running.output()}") from None
    return running


def start_xmppd(env: dict[str, str], workdir: Path, *args: str, ports: Sequence[str] = XMPPD_PORTS,
                ready: str | None = "Log in with", attempts: int = 3,
                timeout: float = START_TIMEOUT) -> Spawned:
    """`manage.py xmppd <args>` on fresh ports (named in `ports`, see PORT_VARS), ready when all of
    them accept connections; retried when another process took one of them meanwhile."""
    for _ in range(attempts - 1):
        try:
            return _start_xmppd_once(env, workdir, args, ports, ready, timeout)
        except AssertionError as exc:
            if "already in use" not in str(exc):
                raise
    return _start_xmppd_once(env, workdir, args, ports, ready, timeout)


def _start_xmppd_once(env: dict[str, str], workdir: Path, args: Sequence[str], ports: Sequence[str],
                      ready: str | None, timeout: float) -> Spawned:
    chosen = dict(zip(ports, free_ports(len(ports))))
    port_env = dict(env, **{PORT_VARS[name]: str(port) for name, port in chosen.items()})
    return spawn([*MANAGE, "xmppd", *args], env=port_env, workdir=workdir, name="xmppd",
                 wait_ports=chosen.values(), ready=ready, ports=chosen, timeout=timeout)
