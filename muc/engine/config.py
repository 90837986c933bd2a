"""XEP-0045 §10.2 / §15.5.3: a room's configuration (the muc#roomconfig form's values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from muc.engine.roles import MODERATOR, PARTICIPANT, VISITOR, MucError

ALLOW_PM = ("anyone", "participants", "moderators", "none")
WHOIS = ("moderators", "anyone")
MAX_HISTORY = 200  # the longest history a room keeps (muc#maxhistoryfetch's bound)


@dataclass
class RoomConfig:
    name: str = ""
    description: str = ""
    lang: str = ""
    persistent: bool = False
    public: bool = True
    members_only: bool = False
    moderated: bool = False
    password: str = ""  # empty: no password (muc#roomconfig_passwordprotectedroom false)
    max_users: int = 0  # 0: no limit beyond the service's
    whois: str = "moderators"  # semi-anonymous; "anyone": non-anonymous
    allow_invites: bool = False
    allow_pm: str = "anyone"
    change_subject: bool = False
    history_length: int = 20
    logging: bool = False
    members_visible: bool = True  # muc#roomconfig_getmemberlist contains participant
    presence_broadcast: tuple[str, ...] = (MODERATOR, PARTICIPANT, VISITOR)

    def check(self) -> None:
        """The rules of the form: values a room cannot have."""
        if self.allow_pm not in ALLOW_PM:
            raise MucError("not-acceptable", "muc#roomconfig_allowpm")
        if self.whois not in WHOIS:
            raise MucError("not-acceptable", "muc#roomconfig_whois")
        if self.max_users < 0 or not 0 <= self.history_length <= MAX_HISTORY:
            raise MucError("not-acceptable", "a number out of range")
        if any(role not in (MODERATOR, PARTICIPANT, VISITOR) for role in self.presence_broadcast):
            raise MucError("not-acceptable", "muc#roomconfig_presencebroadcast")

    @property
    def non_anonymous(self) -> bool:
        return self.whois == "anyone"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["presence_broadcast"] = list(self.presence_broadcast)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RoomConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "presence_broadcast" in values:
            values["presence_broadcast"] = tuple(values["presence_broadcast"])
        return cls(**values)


def status_codes_for_change(old: RoomConfig, new: RoomConfig) -> list[str]:
    """§10.2.1: the status codes announcing a configuration change to the occupants."""
    codes = []
    if old.logging != new.logging:
        codes.append("170" if new.logging else "171")
    if old.whois != new.whois:
        codes.append("172" if new.non_anonymous else "173")
    if not codes and old != new:
        codes.append("104")
    return codes
