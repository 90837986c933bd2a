"""XEP-0122: Data Forms Validation — the one validation engine.

Datatypes (XML Schema Part 2 as registered for xdv), the validation methods of §3.2
(basic, open, range, regex) and the list-range of §3.3, as pure functions over text or
typed values. `xmppcore.forms` applies it to submitted data forms and `commands.validation`
to the typed arguments of operator commands: each phrases a `Violation` in its own words.
No Django, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

# XEP-0122 §3.2: validation methods (list-range is orthogonal, §3.3).
METHODS = frozenset({"basic", "open", "range", "regex"})
BOOLEAN_VALUES = {"1": True, "true": True, "0": False, "false": False}


@dataclass
class Validation:
    """XEP-0122 §3: <validate datatype=...> with at most one method and a list-range."""

    datatype: str = "xs:string"
    method: str = "basic"  # basic | open | range | regex
    min: str | None = None  # <range min=/> in the datatype's lexical space
    max: str | None = None
    regex: str | None = None
    list_min: int | None = None  # <list-range min= max=/> (§3.3)
    list_max: int | None = None


class Violation(ValueError):
    """A value that breaks a rule. `kind`: datatype | min | max | regex | bad-regex |
    list-min | list-max; `limit` is the bound or pattern broken (as written in the rule)."""

    def __init__(self, kind: str, limit: str | int | None = None, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.limit = limit
        self.message = message or kind


# -- datatypes (XML Schema Part 2 §3) ----------------------------------------------------

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DOUBLE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?INF|NaN")
_INTEGER = re.compile(r"[+-]?\d+")
_TZ = r"(Z|[+-]\d{2}:\d{2})?"
_DATE = re.compile(r"-?\d{4,}-\d{2}-\d{2}" + _TZ)
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?" + _TZ)
_DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?" + _TZ)
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")
_URI_FORBIDDEN = re.compile(r"[\s<>\"{}|\\^`]")
# XML Schema Part 2 §3.3: the bounded integer types (registry of xdv datatypes).
_INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "xs:integer": (None, None), "xs:long": (-2**63, 2**63 - 1), "xs:int": (-2**31, 2**31 - 1),
    "xs:short": (-2**15, 2**15 - 1), "xs:byte": (-2**7, 2**7 - 1),
    "xs:nonNegativeInteger": (0, None), "xs:positiveInteger": (1, None),
    "xs:nonPositiveInteger": (None, 0), "xs:negativeInteger": (None, -1),
    "xs:unsignedLong": (0, 2**64 - 1), "xs:unsignedInt": (0, 2**32 - 1),
    "xs:unsignedShort": (0, 2**16 - 1), "xs:unsignedByte": (0, 2**8 - 1),
}


def _fraction_to_micro(text: str) -> str:
    """datetime.fromisoformat takes at most 6 fractional digits; XML Schema takes any."""
    return re.sub(r"\.(\d{1,6})\d*", lambda m: "." + m.group(1).ljust(6, "0"), text)


def _aware(value: datetime) -> datetime:
    # XML Schema §3.2.7.4: a value without a timezone is compared as if in UTC here.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _parse_integer(datatype: str, text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError("not an integer")
    value = int(text)
    low, high = _INT_BOUNDS[datatype]
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"out of the range of {datatype}")
    return value


def _parse_decimal(text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text):
        raise ValueError("not a decimal number")
    return Decimal(text)


def _parse_double(text: str) -> float:
    if not _DOUBLE.fullmatch(text):
        raise ValueError("not a double")
    return float(text.replace("INF", "inf"))


def _parse_boolean(text: str) -> bool:
    if text not in BOOLEAN_VALUES:
        raise ValueError("not a boolean (0, 1, false, true)")
    return BOOLEAN_VALUES[text]


def _parse_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise ValueError("not a date (YYYY-MM-DD)")
    return date.fromisoformat(text[:10])


def _parse_time(text: str) -> time:
    if not _TIME.fullmatch(text):
        raise ValueError("not a time (hh:mm:ss)")
    return time.fromisoformat(_fraction_to_micro(text).replace("Z", "+00:00"))


def _parse_datetime(text: str) -> datetime:
    if not _DATETIME.fullmatch(text):
        raise ValueError("not a date and time (YYYY-MM-DDThh:mm:ss[Z])")
    return _aware(datetime.fromisoformat(_fraction_to_micro(text).replace("Z", "+00:00")))


def _parse_language(text: str) -> str:
    if not _LANGUAGE.fullmatch(text):
        raise ValueError("not a language tag")
    return text


def _parse_uri(text: str) -> str:
    if _URI_FORBIDDEN.search(text):
        raise ValueError("not a URI")
    return text


_PARSERS: dict[str, Callable[[str], Any]] = {
    "xs:string": str, "xs:boolean": _parse_boolean, "xs:decimal": _parse_decimal,
    "xs:double": _parse_double, "xs:float": _parse_double, "xs:date": _parse_date,
    "xs:time": _parse_time, "xs:dateTime": _parse_datetime, "xs:language": _parse_language,
    "xs:anyURI": _parse_uri,
}
for _name in _INT_BOUNDS:
    _PARSERS[_name] = (lambda n: lambda text: _parse_integer(n, text))(_name)
# XEP-0122 §4.7 / xdv registry: <range/> only for datatypes with ordered, finite values.
RANGE_DATATYPES = frozenset(set(_INT_BOUNDS) | {"xs:decimal", "xs:double", "xs:float", "xs:date",
                                                 "xs:time", "xs:dateTime"})


def parse_datatype(datatype: str, text: str) -> Any:
    """The Python value of `text` under an XML Schema datatype; ValueError when invalid.

    XEP-0122 §4.1: a datatype the processor does not understand is validated as xs:string.
    """
    try:
        return _PARSERS.get(datatype, str)(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a valid {datatype}") from exc


def is_known_datatype(datatype: str) -> bool:
    return datatype in _PARSERS


# -- the rules ---------------------------------------------------------------------------

def check_range(v: Validation, typed: Any) -> None:
    """§3.2.3 <range/>: `typed` (a value of the datatype) within min and max, inclusive."""
    if v.method != "range" or v.datatype not in RANGE_DATATYPES:  # §4.7: not for xs:string
        return
    if v.min is not None and typed < parse_datatype(v.datatype, v.min):
        raise Violation("min", v.min)
    if v.max is not None and typed > parse_datatype(v.datatype, v.max):
        raise Violation("max", v.max)


def check_regex(v: Validation, text: str) -> None:
    """§3.2.4 <regex/>: POSIX extended syntax, whose common subset Python's re accepts; the
    pattern applies to the whole value (XML Schema patterns are implicitly anchored)."""
    if v.method != "regex":
        return
    try:
        matched = re.fullmatch(v.regex or "", text) is not None
    except re.error:
        raise Violation("bad-regex", v.regex) from None
    if not matched:
        raise Violation("regex", v.regex)


def check_value(v: Validation, text: str) -> Any:
    """One value's text under the datatype and the method; returns the typed value."""
    try:
        typed = parse_datatype(v.datatype, text)
    except ValueError as exc:
        raise Violation("datatype", v.datatype, str(exc)) from None
    check_range(v, typed)
    check_regex(v, text)
    return typed


def check_count(v: Validation, count: int) -> None:
    """§3.3 <list-range/>: how many values (items) a multi-valued field may have."""
    if v.list_min is not None and count < v.list_min:
        raise Violation("list-min", v.list_min)
    if v.list_max is not None and count > v.list_max:
        raise Violation("list-max", v.list_max)
