"""XEP-0045: one room's state and its decisions (joining §7.2, speaking §7.4-§7.5,
nick changes §7.6, moderation §8-§9, affiliations §9-§10). Pure: the protocol face turns
these decisions into stanzas; JIDs are plain strings here ("user@domain/resource")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from muc.engine.config import RoomConfig
from muc.engine.history import History
from muc.engine.roles import (ADMIN, AFFILIATION_RANK, AFFILIATIONS, MEMBER, MODERATOR, NONE, OUTCAST,
                              OWNER, PARTICIPANT, ROLES, VISITOR, MucError, default_role,
                              may_set_affiliation, may_set_role)


def bare_of(jid: str) -> str:
    return jid.split("/", 1)[0]


@dataclass
class Occupant:
    """One nick in the room: a user (bare JID) with one or more sessions (full JIDs), each
    with its last presence (opaque to the engine)."""

    nick: str
    bare: str
    role: str
    sessions: dict[str, Any] = field(default_factory=dict)  # full JID -> presence payload
    bucket: Any = None  # limits.TokenBucket of its messages to the room, made at the first one

    @property
    def presence(self) -> Any:
        """The presence shown for the nick: that of the session that last sent one."""
        return next(reversed(self.sessions.values())) if self.sessions else None


@dataclass
class Joined:
    occupant: Occupant
    new_nick: bool  # False: another session of a nick already in the room (§7.2 multi-session)
    created: bool


@dataclass
class AffiliationChange:
    """What an affiliation change did: the occupants it touched and whether they leave."""

    bare: str
    affiliation: str
    occupants: list[Occupant]
    removed: bool  # banned (301) or no longer allowed in a members-only room (321)


class Room:
    def __init__(self, jid: str, config: RoomConfig | None = None, *, locked: bool = False,
                 affiliations: dict[str, str] | None = None, nicks: dict[str, str] | None = None) -> None:
        self.jid = jid
        self.config = config or RoomConfig()
        self.locked = locked  # §10.1.1: created and not yet configured
        self.affiliations: dict[str, str] = dict(affiliations or {})
        self.reasons: dict[str, str] = {}
        self.nicks: dict[str, str] = dict(nicks or {})  # bare JID -> registered nick (§7.10)
        self.occupants: dict[str, Occupant] = {}  # nick -> occupant
        self.by_full: dict[str, Occupant] = {}
        self.subject = ""
        self.subject_nick = ""
        self.history = History(self.config.history_length)
        self.destroyed = False

    # -- lookups ---------------------------------------------------------------------------
    def affiliation(self, jid: str) -> str:
        return self.affiliations.get(bare_of(jid), NONE)

    def occupant_of(self, full: str) -> Occupant | None:
        return self.by_full.get(full)

    def owners(self) -> list[str]:
        return sorted(b for b, a in self.affiliations.items() if a == OWNER)

    def with_affiliation(self, affiliation: str) -> list[str]:
        return sorted(b for b, a in self.affiliations.items() if a == affiliation)

    def with_role(self, role: str) -> list[Occupant]:
        return [o for o in self.occupants.values() if o.role == role]

    def sessions(self) -> list[tuple[str, Occupant]]:
        return list(self.by_full.items())

    def is_empty(self) -> bool:
        return not self.by_full

    def sees_jids(self, occupant: Occupant | None) -> bool:
        """§7.2.3 / §7.2.4: full JIDs are shown to everyone (non-anonymous) or to moderators."""
        return self.config.non_anonymous or (occupant is not None and occupant.role == MODERATOR)

    # -- entering (§7.2) ---------------------------------------------------------------------
    def check_join(self, full: str, nick: str, password: str | None, *, creating: bool) -> None:
        bare = bare_of(full)
        affiliation = self.affiliation(bare)
        if not nick:
            raise MucError("jid-malformed", "a nickname is required")
        if self.destroyed:
            raise MucError("gone", "the room was destroyed")
        if self.locked and not creating and affiliation != OWNER:
            raise MucError("item-not-found", "the room is locked until it is configured")  # §7.2.11
        if affiliation == OUTCAST:
            raise MucError("forbidden", "you are banned from this room")  # §7.2.7
        current = self.occupants.get(nick)
        if current is not None and current.bare != bare:
            raise MucError("conflict", "that nickname is in use")  # §7.2.8
        owner_of_nick = next((b for b, n in self.nicks.items() if n == nick and b != bare), None)
        if owner_of_nick is not None:
            raise MucError("conflict", "that nickname is registered by someone else")  # §7.2.8
        if self.config.members_only and AFFILIATION_RANK[affiliation] < AFFILIATION_RANK[MEMBER]:
            raise MucError("registration-required", "this room is for members only")  # §7.2.6
        if self.config.password and affiliation != OWNER and password != self.config.password:
            raise MucError("not-authorized", "a password is required")  # §7.2.5
        if current is None and self.config.max_users and len(self.occupants) >= self.config.max_users \
                and affiliation not in (OWNER, ADMIN):
            raise MucError("service-unavailable", "the room is full")  # §7.2.9

    def join(self, full: str, nick: str, presence: Any, *, creating: bool = False) -> Joined:
        bare = bare_of(full)
        if creating:
            self.affiliations[bare] = OWNER  # §10.1.1: the creator is the initial owner
        occupant = self.occupants.get(nick)
        new_nick = occupant is None
        if occupant is None:
            occupant = Occupant(nick, bare, default_role(self.affiliation(bare), self.config.moderated))
            self.occupants[nick] = occupant
        occupant.sessions[full] = presence
        self.by_full[full] = occupant
        return Joined(occupant, new_nick, creating)

    def update_presence(self, full: str, presence: Any) -> Occupant:
        occupant = self.by_full[full]
        occupant.sessions.pop(full, None)
        occupant.sessions[full] = presence  # the latest presence is shown (dict order)
        return occupant

    def leave(self, full: str) -> tuple[Occupant, bool]:
        """A session leaves; True when it was the nick's last (the nick is gone)."""
        occupant = self.by_full.pop(full)
        occupant.sessions.pop(full, None)
        if occupant.sessions:
            return occupant, False
        self.occupants.pop(occupant.nick, None)
        return occupant, True

    def remove(self, occupant: Occupant) -> list[str]:
        """The nick leaves with every session (kicked, banned, room destroyed)."""
        self.occupants.pop(occupant.nick, None)
        fulls = list(occupant.sessions)
        for full in fulls:
            self.by_full.pop(full, None)
        occupant.role = NONE
        return fulls

    def check_nick_change(self, full: str, nick: str) -> Occupant:
        """§7.6: the same rules as entering with that nick."""
        occupant = self.by_full[full]
        other = self.occupants.get(nick)
        if other is not None and other is not occupant:
            raise MucError("conflict", "that nickname is in use")
        if any(n == nick and b != occupant.bare for b, n in self.nicks.items()):
            raise MucError("conflict", "that nickname is registered by someone else")
        if not nick:
            raise MucError("jid-malformed", "a nickname is required")
        return occupant

    def change_nick(self, occupant: Occupant, nick: str) -> str:
        old = occupant.nick
        self.occupants.pop(old, None)
        occupant.nick = nick
        self.occupants[nick] = occupant
        return old

    # -- speaking (§7.4, §7.5, §8.1) ---------------------------------------------------------
    def check_groupchat(self, full: str) -> Occupant:
        occupant = self.by_full.get(full)
        if occupant is None:
            raise MucError("not-acceptable", "only occupants may send messages to the room")  # §7.4
        if occupant.role == VISITOR:
            raise MucError("forbidden", "visitors may not speak in a moderated room")  # §7.4
        return occupant

    def check_subject(self, occupant: Occupant) -> None:
        """§8.1: moderators, or participants when the configuration allows it."""
        if occupant.role == MODERATOR or (self.config.change_subject and occupant.role == PARTICIPANT):
            return
        raise MucError("forbidden", "you may not change the subject")

    def check_private(self, full: str, nick: str) -> tuple[Occupant, Occupant]:
        """§7.5: a private message from an occupant to another nick."""
        sender = self.by_full.get(full)
        if sender is None:
            raise MucError("not-acceptable", "only occupants may send private messages")
        target = self.occupants.get(nick)
        if target is None:
            raise MucError("item-not-found", "no such occupant")
        allowed = self.config.allow_pm
        if allowed == "none" or (allowed == "moderators" and sender.role != MODERATOR) \
                or (allowed == "participants" and sender.role == VISITOR):
            raise MucError("forbidden", "private messages are not allowed here")
        return sender, target

    def check_invite(self, full: str) -> Occupant:
        occupant = self.by_full.get(full)
        if occupant is None:
            raise MucError("not-acceptable", "only occupants may invite")
        affiliation = self.affiliation(full)
        if self.config.allow_invites and occupant.role != VISITOR:
            return occupant
        if affiliation in (OWNER, ADMIN) or (not self.config.members_only and occupant.role == MODERATOR):
            return occupant  # §7.8.2: members-only rooms: admins and owners always may
        raise MucError("forbidden", "you may not invite to this room")

    # -- moderation (§8, §9) ---------------------------------------------------------------
    def set_role(self, actor_full: str | None, nick: str, role: str) -> Occupant:
        """Change a nick's role (kick: role none); actor None: the service (operators)."""
        if role not in ROLES:
            raise MucError("bad-request", "no such role")
        target = self.occupants.get(nick)
        if target is None:
            raise MucError("item-not-found", "no such occupant")  # §8.2 / §8.3
        if actor_full is not None:
            actor = self.by_full.get(actor_full)
            if actor is None or actor.role != MODERATOR:
                raise MucError("forbidden", "only moderators may do that")
            if not may_set_role(self.affiliation(actor_full), actor.role, self.affiliation(target.bare),
                                target.role, role):
                raise MucError("not-allowed", "you may not change that occupant's role")
        target.role = role
        return target

    def set_affiliation(self, actor: str | None, bare: str, affiliation: str,
                        reason: str = "") -> AffiliationChange:
        """§9.1-§9.4, §10.3-§10.7; actor None: the service itself (operators)."""
        if affiliation not in AFFILIATIONS:
            raise MucError("bad-request", "no such affiliation")
        current = self.affiliation(bare)
        if actor is not None:
            actor_aff = self.affiliation(actor)
            if not may_set_affiliation(actor_aff, current, affiliation):
                raise MucError("not-allowed" if actor_aff in (OWNER, ADMIN) else "forbidden",
                               "you may not change that affiliation")
        if current == OWNER and affiliation != OWNER and self.owners() == [bare]:
            raise MucError("conflict", "a room keeps at least one owner")  # §10.6 / §10.7
        if affiliation == NONE:
            self.affiliations.pop(bare, None)
            self.reasons.pop(bare, None)
        else:
            self.affiliations[bare] = affiliation
            self.reasons[bare] = reason
        occupants = [o for o in self.occupants.values() if o.bare == bare]
        removed = affiliation == OUTCAST or (
            self.config.members_only and AFFILIATION_RANK[affiliation] < AFFILIATION_RANK[MEMBER])
        if not removed:
            for occupant in occupants:  # §9.3-§9.7: the role follows the new affiliation
                occupant.role = default_role(affiliation, self.config.moderated)
        return AffiliationChange(bare, affiliation, occupants, removed)

    def check_owner(self, full: str) -> None:
        if self.affiliation(full) != OWNER:
            raise MucError("forbidden", "only owners may do that")  # §10.1, §10.2, §10.9

    def configure(self, config: RoomConfig) -> list[Occupant]:
        """§10.2: apply a new configuration; returns the occupants no longer allowed in
        (a room made members-only, §10.2 ¶ 322)."""
        config.check()
        self.config = config
        self.locked = False
        self.history.resize(config.history_length)
        if not config.members_only:
            return []
        return [o for o in self.occupants.values()
                if AFFILIATION_RANK[self.affiliation(o.bare)] < AFFILIATION_RANK[MEMBER]]

    def destroy(self) -> list[Occupant]:
        self.destroyed = True
        gone = list(self.occupants.values())
        for occupant in gone:
            self.remove(occupant)
        return gone
