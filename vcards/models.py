"""Each account's vCard (XEP-0054: vcard-temp), stored as the XML the owner published."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class VCard(models.Model):
    """The <vCard xmlns='vcard-temp'/> of `username@domain`; written only by `vcards.actions`."""

    username = models.CharField(max_length=1023)
    domain = models.CharField(max_length=255)
    xml = models.TextField(help_text="The <vCard/> element, serialized.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "vCard"
        constraints = [models.UniqueConstraint(fields=("domain", "username"), name="vcard_owner")]

    def __str__(self) -> str:
        return self.jid

    @property
    def jid(self) -> str:
        return f"{self.username}@{self.domain}"
