"""XEP-0045 rooms that outlive their occupants: configuration, affiliations, registered
nicknames and the discussion history of persistent rooms. Written only by `muc.actions`."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Room(models.Model):
    """A persistent room (temporary rooms live only in memory); `jid` is its bare JID."""

    jid = models.CharField(max_length=3071, unique=True)
    name = models.CharField(max_length=1023, blank=True)
    description = models.TextField(blank=True)
    lang = models.CharField(max_length=35, blank=True)
    public = models.BooleanField(default=True)
    members_only = models.BooleanField(default=False)
    moderated = models.BooleanField(default=False)
    password = models.CharField(max_length=1023, blank=True)
    max_users = models.PositiveIntegerField(default=0, help_text="0: no limit.")
    whois = models.CharField(max_length=16, default="moderators",
                             choices=[("moderators", "moderators (semi-anonymous)"),
                                      ("anyone", "anyone (non-anonymous)")])
    allow_invites = models.BooleanField(default=False)
    allow_pm = models.CharField(max_length=16, default="anyone",
                                choices=[(v, v) for v in ("anyone", "participants", "moderators", "none")])
    change_subject = models.BooleanField(default=False)
    history_length = models.PositiveIntegerField(default=20)
    logging = models.BooleanField(default=False)
    members_visible = models.BooleanField(default=True)
    presence_broadcast = models.CharField(max_length=64, default="moderator,participant,visitor")
    subject = models.TextField(blank=True)
    subject_nick = models.CharField(max_length=1023, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("jid",)

    def __str__(self) -> str:
        return self.jid


class Affiliation(models.Model):
    AFFILIATIONS = [(v, v) for v in ("owner", "admin", "member", "outcast")]
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="affiliations")
    jid = models.CharField(max_length=3071, help_text="A bare JID.")
    affiliation = models.CharField(max_length=8, choices=AFFILIATIONS)
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("room", "jid"), name="muc_affiliation_once")]

    def __str__(self) -> str:
        return f"{self.jid} {self.affiliation} of {self.room_id}"


class RegisteredNick(models.Model):
    """XEP-0045 §7.10: a nickname reserved in a room for a user."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="nicks")
    jid = models.CharField(max_length=3071, help_text="A bare JID.")
    nick = models.CharField(max_length=1023)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("room", "jid"), name="muc_nick_per_user"),
                       models.UniqueConstraint(fields=("room", "nick"), name="muc_nick_once")]

    def __str__(self) -> str:
        return f"{self.nick} ({self.jid})"


class HistoryMessage(models.Model):
    """A groupchat message of a persistent room, as broadcast (without 'to')."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="history")
    stamp = models.DateTimeField(default=timezone.now)
    nick = models.CharField(max_length=1023)
    stanza = models.TextField()

    class Meta:
        ordering = ("stamp", "id")
        indexes = [models.Index(fields=("room", "stamp"), name="muc_history_room_stamp")]

    def __str__(self) -> str:
        return f"{self.nick} at {self.stamp:%Y-%m-%d %H:%M:%S}"
