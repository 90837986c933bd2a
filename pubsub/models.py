"""Publish-subscribe state (XEP-0060, XEP-0163): nodes, items, subscriptions, affiliations.

A node belongs to a service JID: the pubsub component (`pubsub.<domain>`) or an account's
bare JID (its PEP nodes). Written only by `pubsub.actions`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Node(models.Model):
    service = models.CharField(max_length=3071, help_text="pubsub.<domain>, or the account's bare JID (PEP).")
    name = models.CharField(max_length=1023)
    config = models.JSONField(default=dict, help_text="pubsub#node_config values by field var.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    creator = models.CharField(max_length=3071, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("service", "name"), name="pubsub_node_unique")]

    def __str__(self) -> str:
        return f"{self.service} {self.name}"


class Item(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(max_length=1023)
    publisher = models.CharField(max_length=3071, blank=True)
    payload = models.TextField(blank=True, help_text="The item's payload element, serialized.")
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        constraints = [models.UniqueConstraint(fields=("node", "item_id"), name="pubsub_item_unique")]

    def __str__(self) -> str:
        return f"{self.node} / {self.item_id}"


class Subscription(models.Model):
    STATES = [(s, s) for s in ("subscribed", "pending", "unconfigured")]
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="subscriptions")
    jid = models.CharField(max_length=3071)
    subid = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=STATES, default="subscribed")
    options = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("node", "subid"), name="pubsub_subid_unique")]

    def __str__(self) -> str:
        return f"{self.jid} on {self.node} ({self.state})"


class Affiliation(models.Model):
    AFFILIATIONS = [(a, a) for a in ("owner", "publisher", "publish-only", "member", "outcast")]
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="affiliations")
    jid = models.CharField(max_length=3071, help_text="A bare JID.")
    affiliation = models.CharField(max_length=16, choices=AFFILIATIONS)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("node", "jid"), name="pubsub_affiliation_unique")]

    def __str__(self) -> str:
        return f"{self.jid} {self.affiliation} of {self.node}"
