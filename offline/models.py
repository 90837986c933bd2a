"""Messages stored for users who were offline (XEP-0160), in arrival order."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OfflineMessage(models.Model):
    """One <message/> for `username@domain`, as XML with its XEP-0203 <delay/> already added.

    Written and deleted only by `offline.actions`; delivered in `id` order.
    """

    username = models.CharField(max_length=1023)
    domain = models.CharField(max_length=255)
    sender = models.CharField(max_length=3071, blank=True, help_text="The full JID it came from.")
    stored_at = models.DateTimeField(default=timezone.now, editable=False)
    stanza = models.TextField(help_text="The <message/> element, serialized.")

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=("domain", "username", "id"), name="offline_msg_owner")]

    def __str__(self) -> str:
        return f"{self.username}@{self.domain} from {self.sender}"

    @property
    def jid(self) -> str:
        return f"{self.username}@{self.domain}"
