"""The only writers of the muc models (`do_*`), and the readers the service uses at start.

Synchronous ORM code: the XMPP face calls it through `xmppd.storage.db`; the admin, the
operator commands and the REST API call the service (muc.service), which calls these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from muc.engine.config import RoomConfig
from muc.models import Affiliation, HistoryMessage, RegisteredNick, Room

_CONFIG_FIELDS = ("name", "description", "lang", "public", "members_only", "moderated", "password",
                  "max_users", "whois", "allow_invites", "allow_pm", "change_subject",
                  "history_length", "logging", "members_visible")


def config_of(row: Room) -> RoomConfig:
    values: dict[str, Any] = {f: getattr(row, f) for f in _CONFIG_FIELDS}
    values["persistent"] = True
    values["presence_broadcast"] = tuple(v for v in row.presence_broadcast.split(",") if v)
    return RoomConfig.from_dict(values)


def _config_fields(config: RoomConfig) -> dict[str, Any]:
    values = {f: getattr(config, f) for f in _CONFIG_FIELDS}
    values["presence_broadcast"] = ",".join(config.presence_broadcast)
    return values


# -- writers --------------------------------------------------------------------------

def do_save_room(jid: str, config: RoomConfig, affiliations: dict[str, str], subject: str = "",
                 subject_nick: str = "") -> int:
    """Create or update a persistent room with its whole affiliation list."""
    with transaction.atomic():
        row, _ = Room.objects.update_or_create(
            jid=jid, defaults={**_config_fields(config), "subject": subject, "subject_nick": subject_nick})
        Affiliation.objects.filter(room=row).exclude(jid__in=list(affiliations)).delete()
        for bare, affiliation in affiliations.items():
            Affiliation.objects.update_or_create(room=row, jid=bare, defaults={"affiliation": affiliation})
    return row.pk


def do_save_config(jid: str, config: RoomConfig, subject: str | None = None) -> int:
    """Create or update a persistent room's configuration, its affiliations untouched."""
    extra = {"subject": subject} if subject is not None else {}
    row, _ = Room.objects.update_or_create(jid=jid, defaults={**_config_fields(config), **extra})
    return row.pk


def do_delete_history(ids: list[int]) -> int:
    deleted, _ = HistoryMessage.objects.filter(pk__in=ids).delete()
    return deleted


def do_set_affiliation(jid: str, bare: str, affiliation: str, reason: str = "") -> None:
    row = Room.objects.filter(jid=jid).first()
    if row is None:
        return
    if affiliation == "none":
        Affiliation.objects.filter(room=row, jid=bare).delete()
    else:
        Affiliation.objects.update_or_create(room=row, jid=bare,
                                             defaults={"affiliation": affiliation, "reason": reason})


def do_set_subject(jid: str, subject: str, nick: str) -> None:
    Room.objects.filter(jid=jid).update(subject=subject, subject_nick=nick)


def do_register_nick(jid: str, bare: str, nick: str) -> None:
    row = Room.objects.get(jid=jid)
    if nick:
        RegisteredNick.objects.update_or_create(room=row, jid=bare, defaults={"nick": nick})
    else:
        RegisteredNick.objects.filter(room=row, jid=bare).delete()


def do_delete_room(jid: str) -> bool:
    deleted, _ = Room.objects.filter(jid=jid).delete()
    return bool(deleted)


def do_append_history(rows: list[tuple[str, datetime, str, str]], keep: dict[str, int]) -> int:
    """A batch of (room jid, stamp, nick, xml); then each room keeps its `keep[jid]` newest."""
    if not rows:
        return 0
    ids = dict(Room.objects.filter(jid__in={r[0] for r in rows}).values_list("jid", "id"))
    with transaction.atomic():
        HistoryMessage.objects.bulk_create([HistoryMessage(room_id=ids[j], stamp=s, nick=n, stanza=x)
                                            for j, s, n, x in rows if j in ids])
        for jid, length in keep.items():
            if jid in ids:
                old = HistoryMessage.objects.filter(room_id=ids[jid]).order_by("-stamp", "-id")[length:]
                HistoryMessage.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
    return len(rows)


# -- readers --------------------------------------------------------------------------

def load_room(jid: str) -> dict[str, Any] | None:
    """Everything a persistent room needs in memory, or None when there is no such room."""
    row = Room.objects.filter(jid=jid).first()
    return _loaded(row) if row is not None else None


def load_rooms(service_host: str) -> list[dict[str, Any]]:
    """Every persistent room of one MUC service (at start: public rooms are listed in disco)."""
    return [_loaded(row) for row in Room.objects.filter(jid__endswith=f"@{service_host}")]


def _loaded(row: Room) -> dict[str, Any]:
    config = config_of(row)
    history = list(HistoryMessage.objects.filter(room=row).order_by("-stamp", "-id")
                   .values_list("stamp", "nick", "stanza")[:config.history_length])
    return {
        "jid": row.jid,
        "config": config,
        "affiliations": dict(row.affiliations.values_list("jid", "affiliation")),
        "nicks": dict(row.nicks.values_list("jid", "nick")),
        "subject": row.subject, "subject_nick": row.subject_nick,
        "history": history[::-1],
    }
