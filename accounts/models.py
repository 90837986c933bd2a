"""The persisted XMPP account: salted SCRAM credentials only, never a password.

RFC 5802 §3: the server keeps, per hash function, the salt, the iteration count,
StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
ServerKey = HMAC(SaltedPassword, "Server Key"). Neither lets anyone recover the
password, and StoredKey alone cannot be used to log in. Writes go through
`accounts.actions` only.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Account(models.Model):
    """One user of one hosted domain: `username@domain` with a normalized localpart."""

    # RFC 7622 §3.3: the UsernameCaseMapped localpart, already enforced (1 to 1023 octets).
    username = models.CharField(max_length=1023)
    domain = models.CharField(max_length=255)

    # SCRAM-SHA-1 (RFC 5802) credentials.
    sha1_salt = models.BinaryField(max_length=64)
    sha1_iterations = models.PositiveIntegerField()
    sha1_stored_key = models.BinaryField(max_length=20)
    sha1_server_key = models.BinaryField(max_length=20)

    # SCRAM-SHA-256 (RFC 7677) credentials.
    sha256_salt = models.BinaryField(max_length=64)
    sha256_iterations = models.PositiveIntegerField()
    sha256_stored_key = models.BinaryField(max_length=32)
    sha256_server_key = models.BinaryField(max_length=32)

    is_active = models.BooleanField(default=True, help_text="Disabled accounts cannot log in.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # XEP-0012 §4: the time of the last logout and the status of the last unavailable presence.
    last_logout_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.TextField(blank=True, default="", editable=False)

    class Meta:
        ordering = ("domain", "username")
        constraints = [
            models.UniqueConstraint(fields=("username", "domain"), name="accounts_account_unique_jid"),
        ]
        indexes = [models.Index(fields=("domain",), name="accounts_account_domain")]

    def __str__(self) -> str:
        return self.jid

    @property
    def jid(self) -> str:
        """The bare JID, as text (an edge of the system: admin, commands)."""
        return f"{self.username}@{self.domain}"
