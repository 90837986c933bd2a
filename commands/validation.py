"""Argument validation of registry commands: XEP-0122 (Data Forms Validation) rules derived
from each `Arg`, checked by the one engine in `xmppcore.xdv` that data forms use too.

`validate(cmd, raw)` coerces what a face received (form values, JSON, XML-RPC, SOAP text,
shell words) to the argument types; failures are `CommandError("bad-request", ...,
fields={name: message})` listing every bad field. `to_json` shapes results for the faces.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from commands.registry import Arg, Command, CommandError
from xmppcore import xdv
from xmppcore.jid import JID, InvalidJID

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# XML 1.0 §2.2 Char: what XMPP (and so a form, a message, a JID) can carry.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def rules(arg: Arg) -> xdv.Validation | None:
    """The XEP-0122 <validate/> of an argument (§3.2 methods, §3.3 list-range), or None."""
    if arg.type == "int":
        if arg.min is None and arg.max is None:
            return xdv.Validation("xs:integer")
        return xdv.Validation("xs:integer", "range", None if arg.min is None else str(arg.min),
                              None if arg.max is None else str(arg.max))
    if arg.type == "bool":
        return xdv.Validation("xs:boolean")
    if arg.type == "datetime":
        return xdv.Validation("xs:dateTime")
    if arg.type in ("jids", "list-multi"):
        if arg.min is None and arg.max is None:
            return None
        return xdv.Validation(list_min=arg.min, list_max=arg.max)
    if arg.type in ("string", "password") and arg.regex is not None:
        return xdv.Validation("xs:string", "regex", regex=arg.regex)
    return None


def _message(exc: xdv.Violation, what: str) -> str:
    """An XEP-0122 rule broken, in the words the command faces use."""
    if exc.kind == "min":
        return f"must be at least {exc.limit}"
    if exc.kind == "max":
        return f"must be at most {exc.limit}"
    if exc.kind == "list-min":
        return f"must have at least {exc.limit} {what}"
    if exc.kind == "list-max":
        return f"must have at most {exc.limit} {what}"
    if exc.kind in ("regex", "bad-regex"):
        return f"does not match {exc.limit}"
    return exc.message


def _check(arg: Arg, check: Any, value: Any, what: str = "") -> None:
    v = rules(arg)
    if v is None:
        return
    try:
        check(v, value)
    except xdv.Violation as exc:
        raise ValueError(_message(exc, what)) from None


def _as_text(arg: Arg, value: Any) -> str:
    if isinstance(value, (list, tuple)) and arg.type == "text":
        value = "\n".join(str(v) for v in value)  # XEP-0004 text-multi: one <value/> per line
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _NOT_XML.search(value):
        raise ValueError("contains characters XML cannot carry")
    return value


def _check_length(arg: Arg, n: int) -> None:
    if arg.min is not None and n < arg.min:
        raise ValueError(f"must have at least {arg.min} characters")
    if arg.max is not None and n > arg.max:
        raise ValueError(f"must have at most {arg.max} characters")


def parse_jid(value: Any) -> JID:
    """A JID from its text form; ValueError with a message for the field."""
    if isinstance(value, JID):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a JID")
    if _NOT_XML.search(value):
        raise ValueError("contains characters XML cannot carry")
    try:
        jid = JID.parse(value.strip())
        # A JID must survive its own text form (stanzas carry it as text): some non-ASCII
        # domains map to ASCII that RFC 7622 §3.2 refuses.
        if JID.parse(str(jid)) != jid:
            raise InvalidJID("its normalized form is a different JID")
    except InvalidJID as exc:
        raise ValueError(f"is not a valid JID: {exc}") from None
    return jid


def _coerce_string(arg: Arg, value: Any) -> str:
    text = _as_text(arg, value)
    if arg.type == "string":
        text = text.strip()
    _check_length(arg, len(text))
    if arg.choices and text not in arg.choices:
        raise ValueError(f"must be one of {', '.join(arg.choices)}")
    return text


def _coerce_int(arg: Arg, value: Any) -> int:
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise ValueError("must be an integer")
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None
    _check(arg, xdv.check_range, number)
    return number


def _coerce_bool(arg: Arg, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be a boolean (true or false)")


def _coerce_jids(arg: Arg, value: Any) -> list[JID]:
    items = re.split(r"[\s,]+", value.strip()) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("must be a list of JIDs")
    jids = list(dict.fromkeys(parse_jid(v) for v in items if v != ""))
    _check(arg, xdv.check_count, len(jids), "JIDs")
    return jids


def _coerce_domain(arg: Arg, value: Any) -> str:
    jid = parse_jid(value)
    if not jid.is_domain:
        raise ValueError("must be a domain name, not a JID")
    return jid.domain


def _coerce_choice(arg: Arg, value: Any) -> str:
    text = _as_text(arg, value).strip()
    if text not in arg.choices:
        raise ValueError(f"must be one of {', '.join(arg.choices)}")
    return text


def _coerce_choices(arg: Arg, value: Any) -> list[str]:
    items = [v for v in re.split(r"[\s,]+", value.strip()) if v] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError("must be a list of strings")
    bad = [v for v in items if v not in arg.choices]
    if bad:
        raise ValueError(f"{', '.join(bad)} not among {', '.join(arg.choices)}")
    _check(arg, xdv.check_count, len(items), "choices")
    return list(dict.fromkeys(items))


def _coerce_datetime(arg: Arg, value: Any) -> datetime:
    """XEP-0082 DateTime (ISO 8601, 'Z' or an offset); a naive value is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be a date and time (XEP-0082, e.g. 2024-01-31T12:00:00Z)") from None
    else:
        raise ValueError("must be a date and time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


_COERCE = {
    "string": _coerce_string, "text": _coerce_string, "password": _coerce_string,
    "int": _coerce_int, "bool": _coerce_bool, "jid": lambda arg, value: parse_jid(value),
    "jids": _coerce_jids, "domain": _coerce_domain, "list-single": _coerce_choice,
    "list-multi": _coerce_choices, "datetime": _coerce_datetime,
}


def _coerce(arg: Arg, value: Any) -> Any:
    """One value to its Python type, under the argument's XEP-0122 rules."""
    out = _COERCE[arg.type](arg, value)
    if arg.regex is not None and isinstance(out, str):  # XEP-0122 §3.2.4, on any text value
        try:
            xdv.check_regex(xdv.Validation("xs:string", "regex", regex=arg.regex), out)
        except xdv.Violation as exc:
            raise ValueError(_message(exc, "")) from None
    return out


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and len(value) == 0)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "text": (str,), "password": (str,), "jid": (str,), "domain": (str,),
    "list-single": (str,), "datetime": (str,), "int": (int,), "bool": (bool,),
    "jids": (list,), "list-multi": (list,),
}


def _check_json_type(arg: Arg, value: Any) -> None:
    """strict (JSON) mode: the value has the JSON type the schema documents, no coercion."""
    if value is None:
        raise ValueError("may not be null (leave it out instead)")
    if not isinstance(value, _JSON_TYPES[arg.type]) or (arg.type == "int" and isinstance(value, bool)):
        kind = {"int": "an integer", "bool": "a boolean", "jids": "a list", "list-multi": "a list"}
        raise ValueError(f"must be {kind.get(arg.type, 'a string')}")
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")


def _one(arg: Arg, raw: dict[str, Any], strict: bool, out: dict[str, Any]) -> None:
    """Validate one argument into `out`; ValueError with the field's message."""
    value = raw.get(arg.name)
    if strict and arg.name in raw:
        _check_json_type(arg, value)
    # strict mode: "" for an optional argument is a value to check, not an omission.
    is_missing = value is None or (_is_empty(value) and arg.type != "bool"
                                   and not (strict and value == "" and not arg.required))
    if is_missing:
        if arg.required and arg.default is None:
            raise ValueError("is required")
        value = arg.default
        if value is None:
            out[arg.name] = [] if arg.type in ("jids", "list-multi") else None
            return
    out[arg.name] = _coerce(arg, value)


def validate(cmd: Command, raw: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
    """Coerce and check `raw` against `cmd.args` (XEP-0122); returns the keyword arguments
    for `cmd.fn`. Missing optional arguments get their default; unknown ones are refused.
    Raises CommandError("bad-request", ..., fields={name: message}) listing every bad field.

    `strict` (JSON bodies): values must already have their JSON type (no "5" for 5, no null).
    """
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    known = {a.name for a in cmd.args}
    for name in raw:
        if name not in known:
            errors[name] = "unknown argument"
    for arg in cmd.args:
        try:
            _one(arg, raw, strict, out)
        except ValueError as exc:
            errors[arg.name] = str(exc)
    if errors:
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise CommandError("bad-request", f"invalid arguments ({detail})", fields=errors)
    return out


def to_json(value: Any) -> Any:
    """A result or argument as JSON values: JIDs as strings, datetimes in XEP-0082 form."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, JID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    return str(value)
