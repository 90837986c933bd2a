"""The offline store's pure parts: the XEP-0203 stamp and which messages are worth keeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lxml import etree

from offline.xmpp import is_standalone_chat_state, with_delay, xep0082_datetime

DELAY = "urn:xmpp:delay"


def message(inner: str = "<body>hi</body>") -> etree._Element:
    return etree.fromstring(f"<message xmlns='jabber:client' to='bob@localhost' from='alice@localhost/a' "
                            f"type='chat' id='m1'>{inner}</message>")


def test_stamp_is_xep0082_utc() -> None:
    moment = datetime(2002, 9, 10, 17, 58, 35, 250000, tzinfo=timezone(timedelta(hours=-6)))
    assert xep0082_datetime(moment) == "2002-09-10T23:58:35.250Z"


def test_with_delay_adds_one_delay_to_a_copy() -> None:
    original = message()
    stored = with_delay(original, "localhost", datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
    assert original.find(f"{{{DELAY}}}delay") is None  # the routed element is untouched
    (delay,) = stored.findall(f"{{{DELAY}}}delay")
    assert delay.get("from") == "localhost"
    assert delay.get("stamp") == "2024-05-01T12:00:00.000Z"
    assert delay.text == "Offline Storage"
    assert stored.findtext("{jabber:client}body") == "hi"
    assert stored.get("id") == "m1" and stored.get("from") == "alice@localhost/a"
    xml = etree.tostring(stored)
    assert b"<delay xmlns=\"urn:xmpp:delay\" from=\"localhost\" stamp=\"2024-05-01T12:00:00.000Z\">" in xml


def test_with_delay_replaces_a_delay_the_sender_put_there() -> None:
    forged = message(f"<body>hi</body><delay xmlns='{DELAY}' stamp='1999-01-01T00:00:00Z'/>")
    stored = with_delay(forged, "localhost", datetime(2024, 5, 1, tzinfo=timezone.utc))
    stamps = [d.get("stamp") for d in stored.findall(f"{{{DELAY}}}delay")]
    assert stamps == ["2024-05-01T00:00:00.000Z"]


def test_standalone_chat_states_are_recognized() -> None:
    states = "http://jabber.org/protocol/chatstates"
    assert is_standalone_chat_state(message(f"<composing xmlns='{states}'/>"))
    assert is_standalone_chat_state(message(f"<thread>t1</thread><paused xmlns='{states}'/>"))
    assert not is_standalone_chat_state(message(f"<body>hi</body><active xmlns='{states}'/>"))
    assert not is_standalone_chat_state(message(f"<subject>s</subject><active xmlns='{states}'/>"))
    assert not is_standalone_chat_state(message(""))
    assert not is_standalone_chat_state(message(f"<active xmlns='{states}'/><x xmlns='jabber:x:oob'/>"))
