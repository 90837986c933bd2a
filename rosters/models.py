"""The persisted rosters (RFC 6121 §2) with their subscription states (§3, Appendix A).

Writes go through `rosters.actions` only; the running server keeps the roster of every
connected user in memory (`rosters.store`) and updates it from what the actions return.
"""

from __future__ import annotations

from django.db import models

from rosters.items import MAX_NAME_LENGTH

# RFC 7622 §3: a localpart and a domainpart are each at most 1023 octets.
MAX_BARE_JID = 1023 + 1 + 1023


class RosterItem(models.Model):
    """One contact in the roster of `username@domain`, with its subscription state."""

    class Subscription(models.TextChoices):
        NONE = "none", "none"
        TO = "to", "to (the owner sees the contact)"
        FROM = "from", "from (the contact sees the owner)"
        BOTH = "both", "both"

    username = models.CharField(max_length=1023)  # the owner: RFC 7622 normalized localpart
    domain = models.CharField(max_length=255)
    jid = models.CharField("contact JID", max_length=MAX_BARE_JID,
                           help_text="The contact's bare JID, normalized (RFC 7622).")
    name = models.CharField(max_length=MAX_NAME_LENGTH, blank=True, default="")
    subscription = models.CharField(max_length=4, choices=Subscription.choices,
                                    default=Subscription.NONE)
    ask = models.BooleanField("pending out", default=False,
                              help_text="The owner asked for the contact's presence (ask='subscribe').")
    pending_in = models.TextField(
        "pending in", blank=True, default="",
        help_text="The contact's subscription request awaiting an answer, as received (RFC 6121 §3.1.3).")
    approved = models.BooleanField(default=False, help_text="Pre-approved subscription (RFC 6121 §3.4).")
    groups = models.JSONField(default=list, blank=True)
    is_listed = models.BooleanField(
        "in the roster", default=True,
        help_text="False while the contact only sent a subscription request the owner has not answered.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("domain", "username", "jid")
        constraints = [
            models.UniqueConstraint(fields=("username", "domain", "jid"), name="rosters_item_unique"),
        ]
        indexes = [models.Index(fields=("domain", "username"), name="rosters_item_owner"),
                   # Who has this contact: account deletion and subscription lookups (issue 8).
                   models.Index(fields=("jid",), name="rosters_item_contact")]

    def __str__(self) -> str:
        return f"{self.owner} → {self.jid} ({self.subscription}{', ask' if self.ask else ''})"

    @property
    def owner(self) -> str:
        return f"{self.username}@{self.domain}"


class RosterVersion(models.Model):
    """RFC 6121 §2.6: one counter per user, bumped at every change the user can see."""

    username = models.CharField(max_length=1023)
    domain = models.CharField(max_length=255)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("domain", "username")
        constraints = [
            models.UniqueConstraint(fields=("username", "domain"), name="rosters_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} v{self.version}"

    @property
    def owner(self) -> str:
        return f"{self.username}@{self.domain}"
