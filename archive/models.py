"""XEP-0313 archives: one table for every archive (a user's bare JID, later a MUC room's JID).

Rows are appended in batches by `archive.actions.do_append` (the write buffer of
`archive.xmpp`), read with keyset paging on `id` (chronological: rows are written in the
order the messages were routed), and removed by retention or by the admin.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

MAX_JID = 1023 + 1 + 255  # a bare JID: localpart@domainpart (RFC 7622 §3.3)


class ArchivedMessage(models.Model):
    """One message in the archive of `owner` (a user's or a room's bare JID)."""

    class Direction(models.TextChoices):
        IN = "in", "received"
        OUT = "out", "sent"

    owner = models.CharField(max_length=MAX_JID, help_text="The archive: a bare JID.")
    with_jid = models.CharField("with", max_length=MAX_JID,
                                help_text="The bare JID of the other party.")
    with_resource = models.CharField(max_length=1023, blank=True, default="",
                                     help_text="The other party's resource, if any.")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    stanza_id = models.CharField("stanza id", max_length=64,
                                 help_text="The archive UID (XEP-0359 <stanza-id/> id).")
    origin_id = models.CharField("origin id", max_length=255, blank=True, default="",
                                 help_text="The sender's XEP-0359 <origin-id/>, if any.")
    timestamp = models.DateTimeField(default=timezone.now)
    stanza = models.TextField(help_text="The <message/> element, serialized.")
    body = models.TextField(blank=True, default="", help_text="Its <body/> text (search).")

    class Meta:
        ordering = ("id",)
        indexes = [
            # Keyset paging of an archive (the last page, after/before an id).
            models.Index(fields=("owner", "id"), name="archive_owner_id"),
            # The conversation with one contact, paged the same way.
            models.Index(fields=("owner", "with_jid", "id"), name="archive_owner_with"),
            # start/end filters and the retention sweep.
            models.Index(fields=("owner", "timestamp"), name="archive_owner_time"),
            models.Index(fields=("timestamp",), name="archive_time"),
        ]
        constraints = [
            models.UniqueConstraint(fields=("owner", "stanza_id"), name="archive_owner_stanza_id"),
        ]

    def __str__(self) -> str:
        arrow = "<-" if self.direction == self.Direction.IN else "->"
        return f"{self.owner} {arrow} {self.with_jid} ({self.stanza_id})"


class ArchivePrefs(models.Model):
    """XEP-0441 preferences of one archive; no row: the server's default (XMPP_MAM_DEFAULT)."""

    class Default(models.TextChoices):
        ALWAYS = "always", "always"
        NEVER = "never", "never"
        ROSTER = "roster", "roster"

    owner = models.CharField(max_length=MAX_JID, unique=True)
    default = models.CharField(max_length=6, choices=Default.choices)
    always = models.JSONField(default=list, blank=True, help_text="Bare JIDs always archived.")
    never = models.JSONField(default=list, blank=True, help_text="Bare JIDs never archived.")

    class Meta:
        verbose_name = "archive preferences"
        verbose_name_plural = "archive preferences"

    def __str__(self) -> str:
        return f"{self.owner}: {self.default}"
