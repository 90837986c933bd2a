"""XEP-0045 §10.2 / §15.5.3 the muc#roomconfig form, §15.5.4 muc#roominfo (disco, §6.4),
both built with xmppcore.forms (XEP-0004)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lxml import etree

from muc.engine.config import ALLOW_PM, MAX_HISTORY, RoomConfig
from muc.engine.roles import MODERATOR, PARTICIPANT, VISITOR, MucError
from muc.engine.room import Room
from xmppcore import ns
from xmppcore.forms import (Field, Form, FormError, Option, build_form, check_submission, parse_form,
                            typed_value)

_P = "muc#roomconfig_"
# form var -> (RoomConfig attribute, field type, label)
_FIELDS: list[tuple[str, str, str, str]] = [
    (_P + "roomname", "name", "text-single", "Natural-Language Room Name"),
    (_P + "roomdesc", "description", "text-single", "Short Description of Room"),
    (_P + "lang", "lang", "text-single", "Natural Language for Room Discussions"),
    (_P + "enablelogging", "logging", "boolean", "Enable Public Logging?"),
    (_P + "changesubject", "change_subject", "boolean", "Allow Occupants to Change Subject?"),
    (_P + "allowinvites", "allow_invites", "boolean", "Allow Occupants to Invite Others?"),
    (_P + "allowpm", "allow_pm", "list-single", "Who Can Send Private Messages?"),
    (_P + "maxusers", "max_users", "text-single", "Maximum Number of Occupants (0: no limit)"),
    (_P + "presencebroadcast", "presence_broadcast", "list-multi", "Roles for which Presence is Broadcasted"),
    (_P + "getmemberlist", "members_visible", "list-multi", "Roles and Affiliations that May Retrieve Member List"),
    (_P + "publicroom", "public", "boolean", "Make Room Publicly Searchable?"),
    (_P + "persistentroom", "persistent", "boolean", "Make Room Persistent?"),
    (_P + "moderatedroom", "moderated", "boolean", "Make Room Moderated?"),
    (_P + "membersonly", "members_only", "boolean", "Make Room Members-Only?"),
    (_P + "passwordprotectedroom", "password_protected", "boolean", "Password Required to Enter?"),
    (_P + "roomsecret", "password", "text-private", "Password"),
    (_P + "whois", "whois", "list-single", "Who May Discover Real JIDs?"),
    ("muc#maxhistoryfetch", "history_length", "text-single", "Maximum Number of History Messages Returned by Room"),
    (_P + "roomadmins", "admins", "jid-multi", "Full List of Room Admins"),
    (_P + "roomowners", "owners", "jid-multi", "Full List of Room Owners"),
]
_OPTIONS = {
    _P + "allowpm": [Option(v) for v in ALLOW_PM],
    _P + "whois": [Option("moderators", "Moderators Only"), Option("anyone", "Anyone")],
    _P + "presencebroadcast": [Option(r) for r in (MODERATOR, PARTICIPANT, VISITOR)],
    _P + "getmemberlist": [Option(r) for r in (MODERATOR, PARTICIPANT, VISITOR)],
}
_BOOL = {True: "1", False: "0"}


def _values(room: Room, attr: str) -> list[str]:
    config = room.config
    if attr == "password_protected":
        return [_BOOL[bool(config.password)]]
    if attr == "admins":
        return room.with_affiliation("admin")
    if attr == "owners":
        return room.owners()
    if attr == "presence_broadcast":
        return list(config.presence_broadcast)
    if attr == "members_visible":
        return [MODERATOR, PARTICIPANT, VISITOR] if config.members_visible else [MODERATOR]
    value = getattr(config, attr)
    return [_BOOL[value]] if isinstance(value, bool) else [str(value)]


def config_form(room: Room) -> Form:
    form = Form(type="form", title=f"Configuration for {room.jid}")
    form.add(Field("FORM_TYPE", "hidden", values=[ns.MUC_ROOMCONFIG]))
    for var, attr, type_, label in _FIELDS:
        form.add(Field(var, type_, label=label, values=_values(room, attr), options=_OPTIONS.get(var, [])))
    return form


def config_element(room: Room) -> etree._Element:
    return build_form(config_form(room))


def apply_submission(room: Room, x: etree._Element) -> tuple[RoomConfig, dict[str, list[str]]]:
    """The new configuration a submitted form asks for, and the owner/admin lists it gives
    (§10.2: fields left out keep their value)."""
    definition = config_form(room)
    try:
        cleaned = check_submission(definition, parse_form(x))
    except FormError as err:
        raise MucError("not-acceptable", err.message) from None
    changes: dict[str, Any] = {}
    lists: dict[str, list[str]] = {}
    for var, attr, _type, _label in _FIELDS:
        if var not in cleaned:
            continue
        value = typed_value(definition.field(var), cleaned[var])
        if attr in ("admins", "owners"):
            lists[attr] = list(value or [])
        elif attr in ("password_protected", "password"):
            continue
        elif attr == "presence_broadcast":
            changes[attr] = tuple(value or ())
        elif attr == "members_visible":
            changes[attr] = PARTICIPANT in (value or ())
        elif attr in ("max_users", "history_length"):
            changes[attr] = _number(value, var)
        else:
            changes[attr] = value if value is not None else ""
    changes.update(_password(room, definition, cleaned))
    config = replace(room.config, **changes)
    if config.history_length > MAX_HISTORY:
        config = replace(config, history_length=MAX_HISTORY)
    return config, lists


def _password(room: Room, definition: Form, cleaned: dict[str, list[str]]) -> dict[str, str]:
    """muc#roomconfig_passwordprotectedroom and muc#roomconfig_roomsecret together."""
    protected_var, secret_var = _P + "passwordprotectedroom", _P + "roomsecret"
    protected = typed_value(definition.field(protected_var), cleaned[protected_var]) \
        if protected_var in cleaned else None
    secret = typed_value(definition.field(secret_var), cleaned[secret_var]) if secret_var in cleaned else None
    if protected is False:
        return {"password": ""}
    if secret:
        return {"password": secret}
    if protected and not room.config.password:
        raise MucError("not-acceptable", "a password-protected room needs a password")
    return {}


def _number(value: Any, var: str) -> int:
    try:
        number = int(value) if value not in (None, "") else 0
    except (TypeError, ValueError):
        raise MucError("not-acceptable", f"{var} takes a number") from None
    if number < 0:
        raise MucError("not-acceptable", f"{var} takes a number of 0 or more")
    return number


def roominfo(room: Room) -> etree._Element:
    """§6.4 / §15.5.4: the extended room information of disco#info."""
    form = Form(type="result")
    form.add(Field("FORM_TYPE", "hidden", values=[ns.MUC_ROOMINFO]))
    form.add(Field("muc#roominfo_description", "text-single", label="Description",
                   values=[room.config.description]))
    form.add(Field("muc#roominfo_occupants", "text-single", label="Number of occupants",
                   values=[str(len(room.occupants))]))
    form.add(Field("muc#roominfo_subject", "text-single", label="Current Subject", values=[room.subject]))
    form.add(Field("muc#roominfo_subjectmod", "boolean", label="Occupants may change the subject",
                   values=[_BOOL[room.config.change_subject]]))
    if room.config.lang:
        form.add(Field("muc#roominfo_lang", "text-single", label="Language", values=[room.config.lang]))
    form.add(Field(_P + "roomname", "text-single", label="Name", values=[room.config.name]))
    return build_form(form)


def features(room: Room) -> list[str]:
    """§6.4 / §15.2: the room's features in disco#info."""
    config = room.config
    out = [ns.MUC, ns.MUC_STABLE_ID, ns.MUC_SELF_PING, ns.OCCUPANT_ID, ns.REGISTER,
           "muc_persistent" if config.persistent else "muc_temporary",
           "muc_public" if config.public else "muc_hidden",
           "muc_membersonly" if config.members_only else "muc_open",
           "muc_moderated" if config.moderated else "muc_unmoderated",
           "muc_nonanonymous" if config.non_anonymous else "muc_semianonymous",
           "muc_passwordprotected" if config.password else "muc_unsecured"]
    return sorted(set(out))
