"""The only writers of `commands.models`, and their readers.

Synchronous ORM code; async callers go through `xmppd.storage.db`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from commands.models import ApiToken, CommandRun, MessageOfTheDay, VerifiedSession

log = logging.getLogger(__name__)
TOKEN_PREFIX = "xst_"
# Writing last_used_at on every request would make every API call a write: once a minute is enough.
TOUCH_INTERVAL = timedelta(minutes=1)


class NotFound(Exception):
    """No such token or run."""


# -- API tokens -------------------------------------------------------------------------

def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def do_create_token(name: str, domain: str = "", read_only: bool = False,
                    expires_at: datetime | None = None, account: str = "") -> tuple[ApiToken, str]:
    """A new token; returns the row and the token text (shown once, never stored).
    `account` (a normalized bare JID) is the account it belongs to, if any."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(name=name, prefix=raw[:12], digest=token_digest(raw),
                                    domain=(domain or "").lower(), read_only=read_only,
                                    expires_at=expires_at, account=account or "")
    log.info("API token %s created (%s)", token.prefix, token.scope)
    return token, raw


def do_revoke_token(token_id: int) -> None:
    if not ApiToken.objects.filter(id=token_id).update(is_active=False):
        raise NotFound(f"no API token {token_id}")
    log.info("API token %s revoked", token_id)


def do_revoke_account_tokens(account: str) -> int:
    """Issue 8: the credentials of `account` (bare JID) were revoked: so are its tokens."""
    count = ApiToken.objects.filter(account=account, is_active=True).update(is_active=False)
    if count:
        log.info("%d API token(s) of %s revoked", count, account)
    return count


def authenticate_token(raw: str) -> ApiToken | None:
    """The active, unexpired token `raw` names, or None; records its use (once a minute)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.filter(digest=token_digest(raw), is_active=True).first()
    if token is None or not hmac.compare_digest(token.digest, token_digest(raw)):
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
    return token


def list_tokens() -> list[ApiToken]:
    return list(ApiToken.objects.all())


# -- Django sessions authorised through XEP-0070 (commands.httpauth) ------------------------

def do_record_verified_session(jid: str, session_key: str) -> None:
    """Remember that /auth/xmpp/ authorised `session_key` as `jid`; forget records older than
    any session can live (SESSION_COOKIE_AGE)."""
    from django.conf import settings

    stale = timezone.now() - timedelta(seconds=int(settings.SESSION_COOKIE_AGE))
    VerifiedSession.objects.filter(created_at__lt=stale).delete()
    VerifiedSession.objects.update_or_create(session_key=session_key, defaults={"jid": jid})


def do_end_verified_sessions(jid: str) -> int:
    """Issue 8: delete the Django sessions that /auth/xmpp/ authorised as `jid` (bare)."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = VerifiedSession.objects.filter(jid=jid)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.delete()
    if keys:
        log.info("%d web session(s) of %s ended", len(keys), jid)
    return len(keys)


# -- message of the day (XEP-0133 §4.23-§4.25) -------------------------------------------

def do_set_motd(domain: str, body: str, subject: str = "") -> MessageOfTheDay:
    motd, _ = MessageOfTheDay.objects.update_or_create(
        domain=domain, defaults={"body": body, "subject": subject, "updated_at": timezone.now()})
    return motd


def do_delete_motd(domain: str) -> bool:
    deleted, _ = MessageOfTheDay.objects.filter(domain=domain).delete()
    return bool(deleted)


def get_motd(domain: str) -> MessageOfTheDay | None:
    return MessageOfTheDay.objects.filter(domain=domain).first()


def all_motds() -> dict[str, tuple[str, str]]:
    """{domain: (subject, body)} for every domain with a message of the day."""
    return {m.domain: (m.subject, m.body) for m in MessageOfTheDay.objects.all()}


# -- runs of long commands -------------------------------------------------------------

def do_create_run(command: str, args: dict[str, Any], actor: dict[str, Any], owner: str) -> CommandRun:
    return CommandRun.objects.create(command=command, args=args, actor=actor, owner=owner)


def _run_qs(run_id: str | uuid.UUID) -> Any:
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        raise NotFound(f"no run {run_id}") from None
    return CommandRun.objects.filter(id=key)


def get_run(run_id: str | uuid.UUID) -> CommandRun:
    run = _run_qs(run_id).first()
    if run is None:
        raise NotFound(f"no run {run_id}")
    return run


def do_start_run(run_id: str) -> bool:
    """queued → running; False when it was cancelled (or already started: idempotent)."""
    with transaction.atomic():
        return bool(_run_qs(run_id).filter(status=CommandRun.QUEUED, cancel_requested=False)
                    .update(status=CommandRun.RUNNING, started_at=timezone.now()))


def do_record_progress(run_id: str, done: int, total: int, note: str = "") -> None:
    _run_qs(run_id).filter(status=CommandRun.RUNNING).update(
        done=max(done, 0), total=max(total, 0), note=note[:1000])


def do_finish_run(run_id: str, status: str, result: Any = None, error: dict[str, Any] | None = None) -> None:
    """Record the outcome of a run that has not finished yet (a late duplicate changes nothing)."""
    fields: dict[str, Any] = {"status": status, "result": result, "error": error,
                              "finished_at": timezone.now()}
    if status == CommandRun.DONE:
        run = get_run(run_id)
        fields["done"] = max(run.done, run.total)
    _run_qs(run_id).exclude(status__in=CommandRun.FINISHED).update(**fields)


def do_request_cancel(run_id: str) -> CommandRun:
    """Set the cooperative cancel flag; a run that has not started is cancelled at once."""
    with transaction.atomic():
        run = get_run(run_id)
        if run.is_finished:
            return run
        _run_qs(run_id).update(cancel_requested=True)
        _run_qs(run_id).filter(status=CommandRun.QUEUED).update(
            status=CommandRun.CANCELLED, finished_at=timezone.now(), note="cancelled before it started")
    return get_run(run_id)


def do_fail_interrupted_runs(before: datetime) -> int:
    """Runs created before `before` and not finished: their worker is gone (process restart)."""
    return CommandRun.objects.filter(created_at__lt=before).exclude(status__in=CommandRun.FINISHED).update(
        status=CommandRun.FAILED, finished_at=timezone.now(),
        error={"code": "internal", "message": "interrupted: the server restarted"})


def is_cancel_requested(run_id: str) -> bool:
    return _run_qs(run_id).filter(cancel_requested=True).exists()


def run_as_dict(run: CommandRun) -> dict[str, Any]:
    """A run as the faces show it (REST, xmppctl, ad-hoc notes)."""
    return {
        "id": str(run.id), "command": run.command, "status": run.status,
        "progress": {"done": run.done, "total": run.total, "note": run.note},
        "result": run.result, "error": run.error, "cancel_requested": run.cancel_requested,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
