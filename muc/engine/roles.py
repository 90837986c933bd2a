"""XEP-0045 §5: roles and affiliations, and the permission tables of §5.1.1 and §5.2.1."""

from __future__ import annotations

OWNER, ADMIN, MEMBER, NONE, OUTCAST = "owner", "admin", "member", "none", "outcast"
MODERATOR, PARTICIPANT, VISITOR = "moderator", "participant", "visitor"
AFFILIATIONS = (OWNER, ADMIN, MEMBER, NONE, OUTCAST)
ROLES = (MODERATOR, PARTICIPANT, VISITOR, NONE)
# §5.2: the affiliations form a hierarchy (outcast lowest); roles likewise (§5.1).
AFFILIATION_RANK = {OWNER: 4, ADMIN: 3, MEMBER: 2, NONE: 1, OUTCAST: 0}
ROLE_RANK = {MODERATOR: 3, PARTICIPANT: 2, VISITOR: 1, NONE: 0}


class MucError(Exception):
    """A refusal, named by its RFC 6120 §8.3 condition (the protocol face maps it)."""

    def __init__(self, condition: str, text: str | None = None, type_: str | None = None) -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text
        self.type = type_


def default_role(affiliation: str, moderated: bool) -> str:
    """§5.1 / §5.2.1: the role an occupant gets on entering, from its affiliation."""
    if affiliation in (OWNER, ADMIN):
        return MODERATOR
    if affiliation == MEMBER:
        return PARTICIPANT
    if affiliation == OUTCAST:
        return NONE
    return VISITOR if moderated else PARTICIPANT


def may_set_role(actor_aff: str, actor_role: str, target_aff: str, target_role: str, new_role: str) -> bool:
    """§5.1.1 and §8.2-§8.6/§9.6-§9.7: who may change whose role."""
    if actor_role != MODERATOR:
        return False
    if new_role == MODERATOR or target_role == MODERATOR:
        # §9.6/§9.7: granting or revoking moderator is for admins and owners, never on an
        # occupant of equal or higher affiliation than the actor's (except by an owner).
        if AFFILIATION_RANK[actor_aff] < AFFILIATION_RANK[ADMIN]:
            return False
    # §8.2, §8.5, §9.7: admins and owners keep their moderator role (kick, voice, demotion
    # of them are refused with not-allowed).
    return target_aff not in (OWNER, ADMIN)


def may_set_affiliation(actor_aff: str, target_aff: str, new_aff: str) -> bool:
    """§5.2.1: admins edit the member and outcast lists (of those below admin); owners
    edit everything."""
    if actor_aff == OWNER:
        return True
    if actor_aff != ADMIN:
        return False
    return target_aff in (MEMBER, NONE, OUTCAST) and new_aff in (MEMBER, NONE, OUTCAST)


def may_read_list(actor_aff: str, actor_role: str, wanted: str, members_visible: bool) -> bool:
    """§9.5, §10.5, §10.8, §8.5: who may retrieve which list (by affiliation or role)."""
    if wanted in (OWNER, ADMIN, OUTCAST):
        return actor_aff in (OWNER, ADMIN)
    if wanted == MEMBER:
        return actor_aff in (OWNER, ADMIN) or members_visible
    if wanted in (MODERATOR, PARTICIPANT):  # §8.5 voice list, §9.8 moderator list
        return actor_role == MODERATOR
    return False
