"""The pure engine: XEP-0060 §4.1 capability table, §4.5 access models, §7.1.3 publish models,
§16.4 configuration rules, §7.1.5 preconditions, recipients (§7.1.2, XEP-0163 §4.3.1)."""

from __future__ import annotations

import pytest

from pubsub.engine import access, config as cfg
from pubsub.engine.access import Relation
from pubsub.engine.errors import PubsubError
from pubsub.engine.node import NodeView, Sub, apply_max_items, pep_recipients, recipients

# §4.1 "Affiliations and their Privileges", row by row, in the table's column order.
TABLE = {
    "owner": (True, True, True, True, True, True, True),
    "publisher": (True, True, True, True, True, False, False),
    "publish-only": (False, False, True, True, False, False, False),
    "member": (True, True, False, False, False, False, False),
    "none": (True, False, False, False, False, False, False),
    "outcast": (False, False, False, False, False, False, False),
}
COLUMNS = (access.SUBSCRIBE, access.RETRIEVE, access.PUBLISH, access.DELETE_ITEM, access.PURGE,
           access.CONFIGURE, access.DELETE_NODE)


@pytest.mark.parametrize("affiliation", list(TABLE))
def test_capability_table(affiliation):
    assert tuple(access.can(affiliation, c) for c in COLUMNS) == TABLE[affiliation]


def fails(fn, *args, **kwargs):
    with pytest.raises(PubsubError) as exc:
        fn(*args, **kwargs)
    return exc.value.condition, exc.value.pubsub


def conf(**values):
    return {**cfg.default_config(), **{k.replace("__", "#"): v for k, v in values.items()}}


def test_access_models():
    nobody = Relation()
    access.check_access(conf(), nobody)  # open
    assert fails(access.check_access, conf(pubsub__access_model="presence"), nobody) == (
        "not-authorized", "presence-subscription-required")
    access.check_access(conf(pubsub__access_model="presence"), Relation(presence=True))
    roster = conf(pubsub__access_model="roster", pubsub__roster_groups_allowed=["friends"])
    assert fails(access.check_access, roster, Relation(groups=("work",))) == ("not-authorized", "not-in-roster-group")
    access.check_access(roster, Relation(groups=("friends",)))
    assert fails(access.check_access, conf(pubsub__access_model="whitelist"), nobody) == ("not-allowed", "closed-node")
    access.check_access(conf(pubsub__access_model="whitelist"), Relation(affiliation="member"))
    authorize = conf(pubsub__access_model="authorize")
    access.check_access(authorize, nobody, subscribing=True)
    assert fails(access.check_access, authorize, nobody) == ("not-authorized", "not-subscribed")
    access.check_access(authorize, Relation(subscribed=True))
    assert fails(access.check_access, conf(), Relation(affiliation="outcast"))[0] == "forbidden"
    assert fails(access.check_retrieve, conf(), Relation(affiliation="publish-only"))[0] == "forbidden"


def test_publish_models():
    assert fails(access.check_publish, conf(), Relation())[0] == "forbidden"
    access.check_publish(conf(), Relation(affiliation="publish-only"))
    subscribers = conf(pubsub__publish_model="subscribers")
    access.check_publish(subscribers, Relation(subscribed=True))
    assert fails(access.check_publish, subscribers, Relation())[0] == "forbidden"
    access.check_publish(conf(pubsub__publish_model="open"), Relation())
    assert fails(access.check_publish, conf(pubsub__publish_model="open"), Relation(affiliation="outcast"))[0] == "forbidden"


def test_retract_rules():
    access.check_retract(Relation(affiliation="publisher"), "other@x/r", "me@x")
    access.check_retract(Relation(affiliation="publish-only"), "me@x/r", "me@x")
    assert fails(access.check_retract, Relation(affiliation="publish-only"), "other@x", "me@x")[0] == "forbidden"
    assert fails(access.check_retract, Relation(affiliation="member"), "me@x", "me@x")[0] == "forbidden"


def test_configuration_rules():
    base = cfg.default_config()
    new = cfg.apply_submission(base, {"FORM_TYPE": [cfg.ACCESS_MODEL], "pubsub#max_items": ["max"],
                                      "pubsub#deliver_payloads": ["false"], "pubsub#item_expire": ["60"]})
    assert new["pubsub#max_items"] == cfg.MAX_ITEMS_LIMIT and new["pubsub#deliver_payloads"] is False
    assert new["pubsub#item_expire"] == 60 and base["pubsub#deliver_payloads"] is True
    for bad in ({"pubsub#persist_items": ["maybe"]}, {"pubsub#max_items": ["0"]}, {"pubsub#max_items": ["-1"]},
                {"pubsub#publish_model": ["everyone"]}, {"pubsub#colour": ["red"]},
                {"pubsub#notification_type": ["chat"]}, {"pubsub#send_last_published_item": ["always"]}):
        assert fails(cfg.apply_submission, base, bad)[0] == "not-acceptable", bad
    assert fails(cfg.apply_submission, base, {"pubsub#node_type": ["collection"]}) == (
        "feature-not-implemented", "unsupported")
    assert cfg.default_config(pep=True)[cfg.ACCESS_MODEL] == "presence"
    assert cfg.max_items(conf(pubsub__persist_items=False)) == 0


def test_preconditions():
    node = conf(pubsub__access_model="whitelist")
    cfg.check_preconditions(node, {"FORM_TYPE": ["x"], "pubsub#access_model": ["whitelist"]})
    for options in ({"pubsub#access_model": ["open"]}, {"pubsub#nope": ["1"]}, {"pubsub#max_items": ["x"]}):
        assert fails(cfg.check_preconditions, node, options) == ("conflict", "precondition-not-met")


def test_config_form_has_every_field():
    form = cfg.config_form(cfg.default_config())
    assert form.form_type == "http://jabber.org/protocol/pubsub#node_config"
    assert {f.var for f in form.fields} == {"FORM_TYPE", *(s.var for s in cfg.SPECS)}
    assert form.field("pubsub#persist_items").values == ["1"]


def test_recipients_and_pep_recipients():
    node = NodeView("pubsub.x", "n", cfg.default_config(), {"out@x": "outcast"}, [
        Sub("a@x/r", "1"), Sub("a@x/r", "2"), Sub("b@x", "3", "pending"), Sub("c@x", "4", options={"pubsub#deliver": False}),
        Sub("out@x", "5")])
    assert recipients(node) == {"a@x/r": ["1", "2"]}
    assert recipients(NodeView("pubsub.x", "n", conf(pubsub__deliver_notifications=False), {}, [Sub("a@x", "1")])) == {}
    pep = NodeView("me@x", "n", cfg.default_config(pep=True), {"bad@x": "outcast"}, pep=True)
    assert pep_recipients("me@x", ["a@x", "bad@x"], pep) == {"me@x", "a@x"}
    private = NodeView("me@x", "n", {**cfg.default_config(pep=True), cfg.ACCESS_MODEL: "whitelist"},
                       {"m@x": "member"}, pep=True)
    assert pep_recipients("me@x", ["a@x"], private) == {"me@x", "m@x"}
    assert pep.affiliation("me@x") == "owner"
    assert apply_max_items(["c", "b", "a"], pep) == ["b", "a"]
