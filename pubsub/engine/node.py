"""A node's state as one request sees it, and who gets its event notifications (§7.1.2, §4.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from pubsub.engine import access
from pubsub.engine import config as cfg

SUBSCRIBED, PENDING, UNCONFIGURED, NO_SUBSCRIPTION = "subscribed", "pending", "unconfigured", "none"
SUBSCRIPTION_STATES = (SUBSCRIBED, PENDING, UNCONFIGURED, NO_SUBSCRIPTION)


@dataclass(frozen=True)
class Sub:
    """One subscription (§4.2): a JID (bare or full), its SubID, state and options."""

    jid: str
    subid: str
    state: str = SUBSCRIBED
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def bare(self) -> str:
        return self.jid.split("/", 1)[0]

    @property
    def wants_delivery(self) -> bool:
        """§6.3.7 pubsub#deliver (subscribe_options): False pauses notifications."""
        return self.state == SUBSCRIBED and self.options.get("pubsub#deliver", True) is not False


@dataclass
class NodeView:
    """A node of a service (`pubsub.<domain>`) or of an account (PEP: the bare JID)."""

    service: str
    name: str
    config: dict[str, Any]
    affiliations: dict[str, str] = field(default_factory=dict)  # bare JID -> affiliation
    subscriptions: list[Sub] = field(default_factory=list)
    pep: bool = False

    def affiliation(self, bare: str) -> str:
        if self.pep and bare == self.service:
            return access.OWNER  # XEP-0163 §4.2: the account owns its PEP nodes
        return self.affiliations.get(bare, access.NONE)

    def subscriptions_of(self, jid: str) -> list[Sub]:
        """§6.1.6: subscriptions are per JID exactly as subscribed (bare or full)."""
        return [s for s in self.subscriptions if s.jid == jid]

    def is_subscribed(self, bare: str) -> bool:
        return any(s.bare == bare and s.state == SUBSCRIBED for s in self.subscriptions)

    @property
    def owners(self) -> list[str]:
        owners = [jid for jid, aff in self.affiliations.items() if aff == access.OWNER]
        return [self.service] if self.pep and not owners else owners

    @property
    def delivers(self) -> bool:
        return bool(self.config.get(cfg.DELIVER_NOTIFICATIONS, True))

    def notify_on(self, event: str) -> bool:
        """Whether `event` (config, delete, retract, sub) is notified (§16.4 notify_*)."""
        return self.delivers and bool(self.config.get(f"pubsub#notify_{event}", False))


def recipients(node: NodeView) -> dict[str, list[str]]:
    """§7.1.2: every JID with a subscription that wants delivery, with its SubIDs (§12.10:
    one notification per JID, the SubIDs in SHIM headers). Outcasts get nothing."""
    if not node.delivers:
        return {}
    out: dict[str, list[str]] = {}
    for sub in node.subscriptions:
        if sub.wants_delivery and node.affiliation(sub.bare) != access.OUTCAST:
            out.setdefault(sub.jid, []).append(sub.subid)
    return out


def pep_recipients(owner: str, contacts: Iterable[str], node: NodeView) -> set[str]:
    """XEP-0163 §4.3.1 implicit subscribers (bare JIDs): the owner and contacts with a presence
    subscription ('from'/'both'), as the access model allows; outcasts excluded."""
    out = {owner}
    model = node.config.get(cfg.ACCESS_MODEL)
    if model in (cfg.OPEN, cfg.PRESENCE, cfg.ROSTER):
        out.update(contacts)
    elif model in (cfg.WHITELIST, cfg.AUTHORIZE):
        out.update(j for j, aff in node.affiliations.items()
                   if aff in (access.OWNER, access.PUBLISHER, access.MEMBER))
    return {j for j in out if node.affiliation(j) != access.OUTCAST}


def apply_max_items(item_ids_newest_first: list[str], node: NodeView) -> list[str]:
    """The ids of items beyond the node's max_items (§7.1.4: the oldest go)."""
    keep = cfg.max_items(node.config)
    return item_ids_newest_first[keep:]
