"""The pure MUC engine (muc/engine): permissions, joining rules, history selection — no sockets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from muc.engine.config import RoomConfig, status_codes_for_change
from muc.engine.history import Entry, History, Request
from muc.engine.roles import MucError, default_role, may_read_list, may_set_affiliation, may_set_role
from muc.engine.room import Room

OWNER = "owner@x/a"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def make_room(**config: object) -> Room:
    room = Room("r@muc.x", locked=True)
    room.check_join(OWNER, "Owner", None, creating=True)
    room.join(OWNER, "Owner", None, creating=True)
    room.configure(RoomConfig(**config))
    return room


def refused(room: Room, full: str, nick: str, password: str | None = None) -> str:
    with pytest.raises(MucError) as caught:
        room.check_join(full, nick, password, creating=False)
    return caught.value.condition


def test_default_roles_follow_affiliation_and_moderation() -> None:
    assert default_role("owner", False) == "moderator" and default_role("admin", True) == "moderator"
    assert default_role("member", True) == "participant"
    assert default_role("none", False) == "participant" and default_role("none", True) == "visitor"
    assert default_role("outcast", False) == "none"


def test_permission_tables() -> None:
    assert may_set_role("admin", "moderator", "none", "participant", "moderator")
    assert not may_set_role("member", "moderator", "none", "participant", "moderator")
    assert not may_set_role("owner", "moderator", "admin", "moderator", "none")  # never kick an admin
    assert not may_set_role("none", "participant", "none", "visitor", "participant")
    assert may_set_affiliation("admin", "none", "outcast") and not may_set_affiliation("admin", "admin", "none")
    assert not may_set_affiliation("admin", "none", "admin") and may_set_affiliation("owner", "none", "admin")
    assert not may_set_affiliation("member", "none", "member")
    assert may_read_list("admin", "moderator", "outcast", False)
    assert not may_read_list("member", "participant", "outcast", True)
    assert may_read_list("member", "participant", "member", True)
    assert not may_read_list("none", "participant", "member", False)


def test_join_refusals_have_their_conditions() -> None:
    room = make_room(password="s3cret", max_users=2)
    assert refused(room, "bob@x/1", "Owner") == "conflict"
    assert refused(room, "bob@x/1", "Bob") == "not-authorized"
    assert refused(room, "bob@x/1", "Bob", "wrong") == "not-authorized"
    room.check_join("bob@x/1", "Bob", "s3cret", creating=False)
    room.join("bob@x/1", "Bob", None)
    assert refused(room, "carol@x/1", "Carol", "s3cret") == "service-unavailable"
    room.set_affiliation(OWNER, "dave@x", "outcast")
    assert refused(room, "dave@x/1", "Dave", "s3cret") == "forbidden"
    members = make_room(members_only=True)
    assert refused(members, "bob@x/1", "Bob") == "registration-required"
    locked = Room("l@muc.x", locked=True)
    assert refused(locked, "bob@x/1", "Bob") == "item-not-found"


def test_one_user_may_join_one_nick_from_several_resources() -> None:
    room = make_room()
    room.check_join("owner@x/b", "Owner", None, creating=False)
    joined = room.join("owner@x/b", "Owner", None)
    assert not joined.new_nick and set(joined.occupant.sessions) == {OWNER, "owner@x/b"}
    occupant, last = room.leave(OWNER)
    assert not last and room.occupants["Owner"] is occupant
    assert room.leave("owner@x/b")[1] and room.is_empty()


def test_registered_nicks_are_reserved() -> None:
    room = make_room()
    room.nicks["bob@x"] = "Bobby"
    assert refused(room, "eve@x/1", "Bobby") == "conflict"
    room.check_join("bob@x/2", "Bobby", None, creating=False)


def test_visitors_do_not_speak_and_subject_rules() -> None:
    room = make_room(moderated=True)
    room.join("bob@x/1", "Bob", None)
    with pytest.raises(MucError) as caught:
        room.check_groupchat("bob@x/1")
    assert caught.value.condition == "forbidden"
    with pytest.raises(MucError) as caught:
        room.check_groupchat("stranger@x/1")
    assert caught.value.condition == "not-acceptable"
    room.set_role(OWNER, "Bob", "participant")
    bob = room.check_groupchat("bob@x/1")
    with pytest.raises(MucError):
        room.check_subject(bob)
    room.config.change_subject = True
    room.check_subject(bob)


def test_private_messages_follow_allow_pm() -> None:
    room = make_room(allow_pm="moderators")
    room.join("bob@x/1", "Bob", None)
    room.check_private(OWNER, "Bob")
    with pytest.raises(MucError) as caught:
        room.check_private("bob@x/1", "Owner")
    assert caught.value.condition == "forbidden"
    with pytest.raises(MucError) as caught:
        room.check_private(OWNER, "Nobody")
    assert caught.value.condition == "item-not-found"


def test_affiliations_change_roles_and_remove() -> None:
    room = make_room()
    room.join("bob@x/1", "Bob", None)
    change = room.set_affiliation(OWNER, "bob@x", "admin")
    assert not change.removed and room.occupants["Bob"].role == "moderator"
    with pytest.raises(MucError) as caught:
        room.set_affiliation("bob@x/1", "owner@x", "none")
    assert caught.value.condition == "not-allowed"
    with pytest.raises(MucError) as caught:
        room.set_affiliation(OWNER, "owner@x", "member")  # the last owner stays
    assert caught.value.condition == "conflict"
    ban = room.set_affiliation(OWNER, "bob@x", "outcast")
    assert ban.removed and ban.occupants[0].nick == "Bob"


def test_members_only_configuration_names_who_must_leave() -> None:
    room = make_room()
    room.join("bob@x/1", "Bob", None)
    room.join("carol@x/1", "Carol", None)
    room.set_affiliation(OWNER, "carol@x", "member")
    out = room.configure(RoomConfig(members_only=True))
    assert [o.nick for o in out] == ["Bob"]


def test_config_rules_and_change_codes() -> None:
    with pytest.raises(MucError):
        RoomConfig(allow_pm="everybody").check()
    with pytest.raises(MucError):
        RoomConfig(history_length=10_000).check()
    old = RoomConfig()
    assert status_codes_for_change(old, RoomConfig(logging=True)) == ["170"]
    assert status_codes_for_change(old, RoomConfig(whois="anyone")) == ["172"]
    assert status_codes_for_change(old, RoomConfig(name="x")) == ["104"]
    assert status_codes_for_change(old, RoomConfig()) == []
    assert RoomConfig.from_dict(RoomConfig(name="n", presence_broadcast=("moderator",)).to_dict()) \
        == RoomConfig(name="n", presence_broadcast=("moderator",))


def entries(n: int) -> History:
    history = History(5)
    for i in range(n):
        history.add(Entry(NOW - timedelta(minutes=n - i), f"n{i}", i, 100))
    return history


def test_history_keeps_its_length_and_selects() -> None:
    history = entries(8)
    assert [e.payload for e in history.entries()] == [3, 4, 5, 6, 7]
    assert [e.payload for e in history.select(Request(maxstanzas=2), NOW)] == [6, 7]
    assert history.select(Request(maxstanzas=0), NOW) == []
    assert [e.payload for e in history.select(Request(maxchars=250), NOW)] == [6, 7]
    assert history.select(Request(maxchars=0), NOW) == []
    assert [e.payload for e in history.select(Request(seconds=150), NOW)] == [6, 7]
    since = NOW - timedelta(minutes=3)
    assert [e.payload for e in history.select(Request(since=since), NOW)] == [6, 7]
    assert [e.payload for e in history.select(Request(seconds=300, maxstanzas=1), NOW)] == [7]
    history.resize(0)
    assert history.entries() == [] and len(history) == 0
