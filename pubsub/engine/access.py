"""XEP-0060 §4.1 affiliations and their privileges, §4.5 access models, §7.1.3 publish models.

`Relation` is what the protocol face knows about the requester (from the roster kept in
memory, the affiliation table and the subscriptions); the functions here decide and raise
the spec's error with its pubsub child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pubsub.engine import config as cfg
from pubsub.engine.errors import PubsubError

OWNER, PUBLISHER, PUBLISH_ONLY, MEMBER, NONE, OUTCAST = (
    "owner", "publisher", "publish-only", "member", "none", "outcast")
AFFILIATIONS = (OWNER, PUBLISHER, PUBLISH_ONLY, MEMBER, NONE, OUTCAST)

SUBSCRIBE, RETRIEVE, PUBLISH, DELETE_ITEM, PURGE, CONFIGURE, DELETE_NODE = (
    "subscribe", "retrieve", "publish", "delete-item", "purge", "configure", "delete-node")
# §4.1 "Affiliations and their Privileges" ("Yes *" for publishers: any item; publish-only:
# only its own items, checked by `may_retract`).
CAPABILITIES: dict[str, frozenset[str]] = {
    OWNER: frozenset({SUBSCRIBE, RETRIEVE, PUBLISH, DELETE_ITEM, PURGE, CONFIGURE, DELETE_NODE}),
    PUBLISHER: frozenset({SUBSCRIBE, RETRIEVE, PUBLISH, DELETE_ITEM, PURGE}),
    PUBLISH_ONLY: frozenset({PUBLISH, DELETE_ITEM}),
    MEMBER: frozenset({SUBSCRIBE, RETRIEVE}),
    NONE: frozenset({SUBSCRIBE}),
    OUTCAST: frozenset(),
}


def can(affiliation: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(affiliation, frozenset())


@dataclass(frozen=True)
class Relation:
    """The requester as the node sees it."""

    affiliation: str = NONE
    subscribed: bool = False  # has an approved subscription to the node
    presence: bool = False  # has a 'from'/'both' subscription to the owner's presence
    groups: tuple[str, ...] = ()  # the owner's roster groups the requester is in
    in_roster: bool = False


def check_owner(relation: Relation) -> None:
    """§8: owner use cases; anyone else gets <forbidden/>."""
    if relation.affiliation != OWNER:
        raise PubsubError("forbidden", text="only an owner may do this")


def check_access(config: dict[str, Any], relation: Relation, *, subscribing: bool = False) -> None:
    """§6.1.3, §6.5.3: the access model decides who may subscribe and retrieve items."""
    aff = relation.affiliation
    if aff == OUTCAST:  # §6.1.3.8 / §6.5.3.x: blocked
        raise PubsubError("forbidden")
    if aff in (OWNER, PUBLISHER, MEMBER):
        return
    if aff == PUBLISH_ONLY:
        raise PubsubError("forbidden")
    model = config.get(cfg.ACCESS_MODEL, cfg.OPEN)
    if model == cfg.OPEN:
        return
    if model == cfg.PRESENCE and not relation.presence:
        raise PubsubError("not-authorized", "presence-subscription-required")  # §6.1.3.2
    if model == cfg.ROSTER and not set(relation.groups) & set(config.get(cfg.ROSTER_GROUPS) or ()):
        raise PubsubError("not-authorized", "not-in-roster-group")  # §6.1.3.3
    if model == cfg.WHITELIST:
        raise PubsubError("not-allowed", "closed-node")  # §6.1.3.4
    if model == cfg.AUTHORIZE and not subscribing and not relation.subscribed:
        raise PubsubError("not-authorized", "not-subscribed")  # §6.5.3 authorize: subscribers only


def check_retrieve(config: dict[str, Any], relation: Relation) -> None:
    if relation.affiliation == PUBLISH_ONLY:
        raise PubsubError("forbidden")
    check_access(config, relation)


def check_publish(config: dict[str, Any], relation: Relation) -> None:
    """§7.1.3.1: publish model publishers / subscribers / open."""
    if relation.affiliation == OUTCAST:
        raise PubsubError("forbidden")
    if can(relation.affiliation, PUBLISH):
        return
    model = config.get(cfg.PUBLISH_MODEL, "publishers")
    if model == "open" or (model == "subscribers" and relation.subscribed):
        return
    raise PubsubError("forbidden", text="not a publisher of this node")


def check_retract(relation: Relation, publisher: str | None, requester: str) -> None:
    """§7.2.3.1: owners and publishers remove any item; publish-only only its own."""
    aff = relation.affiliation
    if aff in (OWNER, PUBLISHER):
        return
    if aff == PUBLISH_ONLY and publisher is not None and publisher.split("/", 1)[0] == requester:
        return
    raise PubsubError("forbidden", text="may not retract this item")


def check_purge(relation: Relation) -> None:
    if not can(relation.affiliation, PURGE):
        raise PubsubError("forbidden")


def check_affiliation_value(value: str) -> None:
    if value not in AFFILIATIONS:
        raise PubsubError("bad-request", text=f"unknown affiliation {value!r}")
