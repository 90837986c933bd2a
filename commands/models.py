"""What the operator commands persist: API tokens, messages of the day, runs of long commands.

Written only by `commands.actions`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

MAX_BARE_JID = 1023 + 1 + 1023  # RFC 7622 §3: localpart and domainpart, at most 1023 octets each


class ApiToken(models.Model):
    """A bearer token for the REST API (`Authorization: Bearer <token>`).

    Only a SHA-256 digest of the token is kept; the token itself is shown once, when it is
    created. Scope: server-wide (no domain) or one domain; admin or read-only. A token may
    belong to an account (e.g. a domain administrator's): changing that account's password,
    disabling or deleting it revokes the token (issue 8, `commands.revocation`).
    """

    name = models.CharField(max_length=200, help_text="What the token is for (a script, a person).")
    prefix = models.CharField(max_length=16, editable=False, help_text="The token's first characters.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    domain = models.CharField(max_length=255, blank=True, default="",
                              help_text="Empty for a server-wide token; else the one domain it may manage.")
    read_only = models.BooleanField(default=False, help_text="May only run commands that change nothing.")
    account = models.CharField(max_length=MAX_BARE_JID, blank=True, default="", db_index=True,
                               help_text="The account (user@domain) the token belongs to, if any: its "
                                         "password change, disable or deletion revokes the token.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope(self) -> str:
        where = self.domain or "server"
        return f"{where}:{'read' if self.read_only else 'admin'}"


class VerifiedSession(models.Model):
    """A Django session that XEP-0070 (`/auth/xmpp/`) authorised as `jid`: ended with the
    account's credentials (issue 8), like its XMPP sessions and its API tokens."""

    jid = models.CharField(max_length=MAX_BARE_JID, db_index=True)
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.jid} ({self.session_key[:6]}…)"


class MessageOfTheDay(models.Model):
    """XEP-0133 §4.23-§4.25: the message each user of `domain` gets when logging in."""

    domain = models.CharField(max_length=255, unique=True)
    subject = models.CharField(max_length=1024, blank=True, default="")
    body = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("domain",)
        verbose_name = "message of the day"
        verbose_name_plural = "messages of the day"

    def __str__(self) -> str:
        return f"{self.domain}: {self.body[:40]}"


class CommandRun(models.Model):
    """One run of a long command through Celery: status, progress, result, cancel flag."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)]
    FINISHED = frozenset({DONE, FAILED, CANCELLED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    command = models.CharField(max_length=100)
    args = models.JSONField(default=dict, help_text="The raw arguments, as strings and lists.")
    actor = models.JSONField(default=dict, help_text="Who started it (jid, rights, face).")
    owner = models.CharField(max_length=300, blank=True, default="",
                             help_text="jid:…, token:… or cli: who may see and cancel it.")
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=1000, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("status", "created_at"), name="commands_run_status")]

    def __str__(self) -> str:
        return f"{self.command} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
