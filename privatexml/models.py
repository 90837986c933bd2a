"""XEP-0049: Private XML Storage — each account's private fragments, one row per namespace."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PrivateXML(models.Model):
    """The elements `username@domain` stored under `namespace` (XEP-0049 §2.3: a set may carry
    several elements of one namespace); written only by `privatexml.actions`."""

    username = models.CharField(max_length=1023)
    domain = models.CharField(max_length=255)
    namespace = models.CharField(max_length=1023)
    xml = models.TextField(help_text="The stored elements of this namespace, serialized one after another.")
    size = models.PositiveIntegerField(default=0, help_text="Bytes of `xml` (UTF-8), for the account's quota.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "private XML fragment"
        constraints = [models.UniqueConstraint(fields=("domain", "username", "namespace"),
                                               name="privatexml_owner_namespace")]

    def __str__(self) -> str:
        return f"{self.jid} {self.namespace}"

    @property
    def jid(self) -> str:
        return f"{self.username}@{self.domain}"
