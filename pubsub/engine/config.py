"""XEP-0060 §16.4 pubsub#node_config: the fields this service enforces, their defaults and rules.

A node's configuration is a dict keyed by the field's `var` with typed values (str, bool,
int or None, list of str). `apply_submission` checks a submitted form (§8.2.4, §7.1.4) and
returns the new configuration; `check_preconditions` applies publish-options (§7.1.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xmppcore.forms import Field, Form, Option
from xmppcore.errors import StanzaError

from pubsub.engine.errors import PubsubError

OPEN, PRESENCE, ROSTER, WHITELIST, AUTHORIZE = "open", "presence", "roster", "whitelist", "authorize"
ACCESS_MODELS = (OPEN, PRESENCE, ROSTER, WHITELIST, AUTHORIZE)
PUBLISH_MODELS = ("publishers", "subscribers", "open")
SEND_LAST = ("never", "on_sub", "on_sub_and_presence")
NOTIFICATION_TYPES = ("normal", "headline")
MAX_ITEMS_LIMIT = 1000  # the most items one node keeps ("max" asks for this)

ACCESS_MODEL = "pubsub#access_model"
ROSTER_GROUPS = "pubsub#roster_groups_allowed"
PUBLISH_MODEL = "pubsub#publish_model"
MAX_ITEMS = "pubsub#max_items"
PERSIST = "pubsub#persist_items"
DELIVER_PAYLOADS = "pubsub#deliver_payloads"
DELIVER_NOTIFICATIONS = "pubsub#deliver_notifications"
NOTIFY_CONFIG = "pubsub#notify_config"
NOTIFY_DELETE = "pubsub#notify_delete"
NOTIFY_RETRACT = "pubsub#notify_retract"
NOTIFY_SUB = "pubsub#notify_sub"
SEND_LAST_ITEM = "pubsub#send_last_published_item"
NOTIFICATION_TYPE = "pubsub#notification_type"
ITEM_EXPIRE = "pubsub#item_expire"
TITLE = "pubsub#title"
DESCRIPTION = "pubsub#description"
TYPE = "pubsub#type"
NODE_TYPE = "pubsub#node_type"


@dataclass(frozen=True)
class Spec:
    """One configuration field: its XEP-0004 type, default, choices and label."""

    var: str
    type: str  # boolean | list-single | list-multi | text-single | number (text-single, int)
    default: Any
    label: str
    options: tuple[str, ...] = ()


SPECS: tuple[Spec, ...] = (
    Spec(TITLE, "text-single", "", "A friendly name for the node"),
    Spec(DESCRIPTION, "text-single", "", "A description of the node"),
    Spec(TYPE, "text-single", "", "The type of node data (the payload namespace)"),
    Spec(ACCESS_MODEL, "list-single", OPEN, "Who may subscribe and retrieve items", ACCESS_MODELS),
    Spec(ROSTER_GROUPS, "list-multi", [], "Roster groups allowed to subscribe"),
    Spec(PUBLISH_MODEL, "list-single", "publishers", "Who may publish", PUBLISH_MODELS),
    Spec(MAX_ITEMS, "number", 10, "Max number of items to persist ('max' for the most)"),
    Spec(PERSIST, "boolean", True, "Persist items to storage"),
    Spec(DELIVER_PAYLOADS, "boolean", True, "Deliver payloads with event notifications"),
    Spec(DELIVER_NOTIFICATIONS, "boolean", True, "Deliver event notifications"),
    Spec(NOTIFY_CONFIG, "boolean", False, "Notify subscribers when the configuration changes"),
    Spec(NOTIFY_DELETE, "boolean", False, "Notify subscribers when the node is deleted"),
    Spec(NOTIFY_RETRACT, "boolean", True, "Notify subscribers when items are removed"),
    Spec(NOTIFY_SUB, "boolean", False, "Notify owners about new subscribers"),
    Spec(SEND_LAST_ITEM, "list-single", "on_sub_and_presence", "When to send the last published item",
         SEND_LAST),
    Spec(NOTIFICATION_TYPE, "list-single", "headline", "Message type of event notifications",
         NOTIFICATION_TYPES),
    Spec(ITEM_EXPIRE, "number", None, "Seconds after which items are removed (empty: never)"),
)
BY_VAR = {spec.var: spec for spec in SPECS}
# XEP-0163 §4: PEP nodes default to the presence access model and keep the last item.
PEP_OVERRIDES = {ACCESS_MODEL: PRESENCE, MAX_ITEMS: 1, NOTIFY_RETRACT: True}


def default_config(*, pep: bool = False) -> dict[str, Any]:
    config = {spec.var: (list(spec.default) if isinstance(spec.default, list) else spec.default)
              for spec in SPECS}
    if pep:
        config.update(PEP_OVERRIDES)
    return config


def _bad(var: str, why: str) -> PubsubError:
    # §8.2.5.3: a form the service cannot apply is not-acceptable.
    return PubsubError("not-acceptable", text=f"{var}: {why}")


def parse_value(spec: Spec, values: list[str]) -> Any:
    """The typed value of one submitted field, or not-acceptable."""
    if spec.type == "list-multi":
        return list(values)
    value = values[0].strip() if values else ""
    if spec.type == "boolean":
        if value in ("1", "true"):
            return True
        if value in ("0", "false"):
            return False
        raise _bad(spec.var, "not a boolean")
    if spec.type == "list-single":
        if value not in spec.options:
            raise _bad(spec.var, f"one of {', '.join(spec.options)}")
        return value
    if spec.type == "number":
        return _number(spec, value)
    return value


def _number(spec: Spec, value: str) -> int | None:
    if value == "" and spec.var == ITEM_EXPIRE:
        return None
    if value == "max" and spec.var == MAX_ITEMS:  # XEP-0060 §7.1.4 "max" (v1.15.7)
        return MAX_ITEMS_LIMIT
    if not value.isdigit():
        raise _bad(spec.var, "a non-negative integer")
    number = int(value)
    if spec.var == MAX_ITEMS and not 1 <= number <= MAX_ITEMS_LIMIT:
        raise _bad(spec.var, f"from 1 to {MAX_ITEMS_LIMIT}")
    return number


def apply_submission(current: dict[str, Any], submitted: dict[str, list[str]]) -> dict[str, Any]:
    """§8.2.4: the configuration after a submitted node_config form; fields not submitted keep
    their value. Collection nodes are refused (§8.1.2 / §9: not supported here)."""
    config = dict(current)
    for var, values in submitted.items():
        if var == "FORM_TYPE":
            continue
        if var == NODE_TYPE and values and values[0] == "collection":
            raise PubsubError("feature-not-implemented", "unsupported", feature="collections")
        spec = BY_VAR.get(var)
        if spec is None:
            if var == NODE_TYPE:
                continue
            raise _bad(var, "not a configurable field of this service")
        config[var] = parse_value(spec, values)
    return config


def check_preconditions(config: dict[str, Any], options: dict[str, list[str]]) -> None:
    """§7.1.5: publish-options are preconditions: each must equal the node's value, else
    <conflict/> with <precondition-not-met/>."""
    for var, values in options.items():
        if var == "FORM_TYPE":
            continue
        spec = BY_VAR.get(var)
        if spec is None:
            raise PubsubError("conflict", "precondition-not-met", text=f"{var} is not a node option")
        try:
            wanted = parse_value(spec, values)
        except StanzaError:
            raise PubsubError("conflict", "precondition-not-met", text=f"{var} has a bad value")
        if wanted != config.get(var):
            raise PubsubError("conflict", "precondition-not-met", text=f"{var} differs")


def max_items(config: dict[str, Any]) -> int:
    """How many items the node keeps (0 when it persists none)."""
    if not config.get(PERSIST, True):
        return 0
    return int(config.get(MAX_ITEMS) or MAX_ITEMS_LIMIT)


def config_form(config: dict[str, Any], form_type: str = "form") -> Form:
    """The node_config form with the current values (§8.2.1, §8.3 defaults)."""
    form = Form(type=form_type)
    form.add(Field("FORM_TYPE", type="hidden", values=["http://jabber.org/protocol/pubsub#node_config"]))
    for spec in SPECS:
        form.add(_field(spec, config.get(spec.var)))
    return form


def _field(spec: Spec, value: Any) -> Field:
    field_type = "text-single" if spec.type == "number" else spec.type
    if isinstance(value, bool):
        values = ["1" if value else "0"]
    elif isinstance(value, list):
        values = list(value)
    else:
        values = [] if value is None else [str(value)]
    return Field(spec.var, type=field_type, label=spec.label, values=values,
                 options=[Option(o) for o in spec.options])
