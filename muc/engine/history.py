"""XEP-0045 §7.2.15 / §7.2.16: a room's discussion history and which of it a joiner gets."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable


@dataclass(frozen=True)
class Entry:
    """One message as broadcast: `payload` is opaque here (the protocol face's element),
    `chars` the length of its complete XML stanza (what maxchars counts, §7.2.15)."""

    stamp: datetime
    nick: str
    payload: Any
    chars: int


@dataclass(frozen=True)
class Request:
    """The <history/> attributes of a join; None: not given."""

    maxchars: int | None = None
    maxstanzas: int | None = None
    seconds: int | None = None
    since: datetime | None = None


class History:
    """The last `length` messages of a room, oldest first."""

    def __init__(self, length: int, entries: Iterable[Entry] = ()) -> None:
        self._entries: deque[Entry] = deque(entries, maxlen=max(length, 0) or None)
        self._length = length

    def __len__(self) -> int:
        return len(self._entries) if self._length else 0

    def resize(self, length: int) -> None:
        self._length = length
        self._entries = deque(list(self._entries)[-length:] if length else [], maxlen=length or None)

    def add(self, entry: Entry) -> None:
        if self._length:
            self._entries.append(entry)

    def entries(self) -> list[Entry]:
        return list(self._entries) if self._length else []

    def select(self, request: Request, now: datetime) -> list[Entry]:
        """§7.2.15: every limit given applies (the most restrictive wins); none: all kept."""
        chosen = self.entries()
        if request.seconds is not None:
            chosen = [e for e in chosen if e.stamp >= now - timedelta(seconds=request.seconds)]
        if request.since is not None:
            chosen = [e for e in chosen if e.stamp > request.since]
        if request.maxstanzas is not None:
            chosen = chosen[len(chosen) - request.maxstanzas:] if request.maxstanzas > 0 else []
        if request.maxchars is not None:
            total = 0
            keep = 0
            for entry in reversed(chosen):  # the newest messages that fit
                if total + entry.chars > request.maxchars:
                    break
                total += entry.chars
                keep += 1
            chosen = chosen[len(chosen) - keep:] if keep else []
        return chosen
