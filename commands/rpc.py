"""XEP-0009: Jabber-RPC. The command registry as XML-RPC methods over XMPP.

An <iq type='set'> to a hosted domain carries <query xmlns='jabber:iq:rpc'><methodCall/>;
the methodName is a registry command, the params its arguments — positionally in the
command's argument order, or as one <struct/> of named members. The answer is a
<methodResponse/> with the result, or an XML-RPC <fault/> (faultCode, faultString) when the
command fails (§2: application errors travel in the XML-RPC payload). Administrators call
what `commands.permissions` allows them; a user of a hosted domain calls the commands on
their own account (a "user" command that leaves its account argument out acts on the
caller's); other entities get <forbidden/> (§3, §5), as does a call the registry refuses
for the caller's rights.

Besides the registry, the XML-RPC introspection methods system.listMethods (exactly what
the caller may call) and system.methodHelp are answered.

Type mapping: i4/int/i8 → int, boolean → bool, string (or an untyped value) → str,
double → float, dateTime.iso8601 → datetime (UTC when no offset), base64 → str (UTF-8),
array → list, struct → dict, nil → None. Results: JIDs as strings, datetimes as
dateTime.iso8601, None inside a result as <nil/>; a command without a result answers
<boolean>1</boolean>.

Hooks handled: iq-set/host/jabber:iq:rpc:query
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from lxml import etree

from accounts.signals import keeping
from commands import execution, registry
from commands.permissions import may_list, on_own_account
from commands.registry import Actor, Command, CommandError
from commands.xmppface import XmppFace
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, iq_result

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

# Fault codes of the "specification for fault code interoperability" (xmlrpc-epi), which
# most XML-RPC libraries follow; application failures use -32500 with the registry's code.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
APPLICATION_ERROR = -32500
INT32 = (-2**31, 2**31 - 1)
_DATETIME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


class Fault(Exception):
    """An XML-RPC fault: faultCode and faultString."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _q(name: str) -> str:
    return ns.q(ns.RPC, name)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    # XEP-0009 §8: the payload is qualified by jabber:iq:rpc; accept unqualified XML-RPC too.
    for c in _children(el):
        if _local(c) == name:
            return c
    return None


# -- decoding ----------------------------------------------------------------------------

def parse_datetime(text: str) -> datetime:
    m = _DATETIME.fullmatch(text.strip())
    if m is None:
        raise Fault(INVALID_PARAMS, f"{text!r} is not a dateTime.iso8601")
    year, month, day, hour, minute, second, fraction, tz = m.groups()
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    zone = timezone.utc
    if tz and tz != "Z":
        digits = tz[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        zone = timezone(timedelta(minutes=minutes if tz[0] == "+" else -minutes))
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
    except ValueError as exc:
        raise Fault(INVALID_PARAMS, f"{text!r}: {exc}") from None
    return value.astimezone(timezone.utc)


def decode_value(value: etree._Element) -> Any:
    """One XML-RPC <value/> as a Python value; Fault(INVALID_PARAMS) when malformed."""
    typed = _children(value)
    if not typed:
        return value.text or ""  # XML-RPC: a value without a type element is a string
    if len(typed) > 1:
        raise Fault(INVALID_PARAMS, "a <value/> has more than one type element")
    el = typed[0]
    kind, text = _local(el), (el.text or "").strip()
    try:
        if kind in ("i4", "int", "i8"):
            return int(text)
        if kind == "boolean":
            if text not in ("0", "1"):
                raise Fault(INVALID_PARAMS, f"{text!r} is not a boolean (0 or 1)")
            return text == "1"
        if kind == "string":
            return el.text or ""
        if kind == "double":
            return float(text)
        if kind == "dateTime.iso8601":
            return parse_datetime(text)
        if kind in ("base64", "Base64"):  # §2 note: some implementations send <Base64/>
            return base64.b64decode(text, validate=True).decode("utf-8")
        if kind == "nil":
            return None
        if kind == "array":
            data = _child(el, "data")
            return [decode_value(v) for v in _children(data) if _local(v) == "value"] if data is not None else []
        if kind == "struct":
            return _decode_struct(el)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Fault(INVALID_PARAMS, f"invalid <{kind}/>: {exc}") from None
    raise Fault(INVALID_PARAMS, f"unknown XML-RPC type <{kind}/>")


def _decode_struct(el: etree._Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for member in _children(el):
        name, value = _child(member, "name"), _child(member, "value")
        if _local(member) != "member" or name is None or value is None:
            raise Fault(INVALID_PARAMS, "a struct member needs a <name/> and a <value/>")
        out[name.text or ""] = decode_value(value)
    return out


def parse_call(query: etree._Element) -> tuple[str, list[Any]]:
    """(methodName, params) of <query><methodCall/>; Fault(INVALID_REQUEST) when malformed."""
    call = _child(query, "methodCall")
    if call is None:
        raise Fault(INVALID_REQUEST, "expected a <methodCall/>")
    name = _child(call, "methodName")
    if name is None or not (name.text or "").strip():
        raise Fault(INVALID_REQUEST, "the <methodCall/> has no <methodName/>")
    params: list[Any] = []
    params_el = _child(call, "params")
    for param in _children(params_el) if params_el is not None else []:
        value = _child(param, "value")
        if _local(param) != "param" or value is None:
            raise Fault(INVALID_REQUEST, "each <param/> holds one <value/>")
        params.append(decode_value(value))
    return name.text.strip(), params


# -- encoding ----------------------------------------------------------------------------

def encode_value(value: Any) -> etree._Element:
    """A Python value as an XML-RPC <value/> (in the jabber:iq:rpc namespace)."""
    el = etree.Element(_q("value"))
    if value is None:
        etree.SubElement(el, _q("nil"))
    elif isinstance(value, bool):
        etree.SubElement(el, _q("boolean")).text = "1" if value else "0"
    elif isinstance(value, int):
        kind = "int" if INT32[0] <= value <= INT32[1] else "i8"
        etree.SubElement(el, _q(kind)).text = str(value)
    elif isinstance(value, float):
        etree.SubElement(el, _q("double")).text = repr(value)
    elif isinstance(value, datetime):
        utc = value.astimezone(timezone.utc) if value.tzinfo else value
        etree.SubElement(el, _q("dateTime.iso8601")).text = utc.strftime("%Y%m%dT%H:%M:%S")
    elif isinstance(value, dict):
        struct = etree.SubElement(el, _q("struct"))
        for key, item in value.items():
            member = etree.SubElement(struct, _q("member"))
            etree.SubElement(member, _q("name")).text = str(key)
            member.append(encode_value(item))
    elif isinstance(value, (list, tuple, set, frozenset)):
        data = etree.SubElement(etree.SubElement(el, _q("array")), _q("data"))
        for item in value:
            data.append(encode_value(item))
    else:  # str, JID and anything else with a text form
        etree.SubElement(el, _q("string")).text = str(value)
    return el


def _response(*, value: Any = None, fault: Fault | None = None) -> etree._Element:
    query = etree.Element(_q("query"), nsmap={None: ns.RPC})
    response = etree.SubElement(query, _q("methodResponse"))
    if fault is not None:
        holder = etree.SubElement(response, _q("fault"))
        holder.append(encode_value({"faultCode": fault.code, "faultString": fault.message}))
    else:
        param = etree.SubElement(etree.SubElement(response, _q("params")), _q("param"))
        param.append(encode_value(value))
    return query


def _plain(value: Any) -> Any:
    """A result with JIDs as strings; datetimes stay datetimes (dateTime.iso8601)."""
    if isinstance(value, JID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


# -- binding params to arguments ------------------------------------------------------------

def bind(cmd: Command, params: list[Any]) -> dict[str, Any]:
    """Positional params in argument order, or one struct of named arguments."""
    if len(params) == 1 and isinstance(params[0], dict):
        return dict(params[0])
    if len(params) > len(cmd.args):
        raise Fault(INVALID_PARAMS, f"{cmd.name} takes at most {len(cmd.args)} parameters "
                                    f"({', '.join(a.name for a in cmd.args) or 'none'})")
    return {arg.name: value for arg, value in zip(cmd.args, params, strict=False)}  # trailing args: defaults


def fault_for(exc: CommandError) -> Fault:
    code = INVALID_PARAMS if exc.code == "bad-request" else APPLICATION_ERROR
    if exc.code == "internal":
        code = INTERNAL_ERROR
    return Fault(code, f"{exc.code}: {exc.message}")


def _introspect(name: str, params: list[Any], actor: Actor) -> Any:
    if name == "system.listMethods":  # what this caller may call (the registry decides per call)
        names = [c.name for c in registry.all_commands() if may_list(c, actor)]
        return names + ["system.listMethods", "system.methodHelp"]
    if not params or not isinstance(params[0], str):
        raise Fault(INVALID_PARAMS, "system.methodHelp takes a method name")
    try:
        cmd = registry.get(params[0])
    except CommandError:
        raise Fault(METHOD_NOT_FOUND, f"no method {params[0]!r}") from None
    if not may_list(cmd, actor):
        raise Fault(METHOD_NOT_FOUND, f"no method {params[0]!r} for you")
    args = ", ".join(f"{a.name}: {a.type}{'' if a.required and a.default is None else ' (optional)'}"
                     for a in cmd.args)
    return f"{cmd.description} Parameters: {args or 'none'}. Result: {cmd.result}."


async def call(name: str, params: list[Any], actor: Actor) -> Any:
    """Run one method for `actor`; Fault on failure, StanzaError(forbidden) on refusal."""
    if name in ("system.listMethods", "system.methodHelp"):
        return _introspect(name, params, actor)
    try:
        cmd = registry.get(name)
    except CommandError:
        raise Fault(METHOD_NOT_FOUND, f"no method {name!r}") from None
    raw = on_own_account(cmd, actor, bind(cmd, params))
    try:
        result = await execution.run(cmd.name, actor, raw)
    except CommandError as exc:
        if exc.code == "forbidden":
            raise StanzaError("forbidden", exc.message) from None
        raise fault_for(exc) from None
    return True if result is None and cmd.result == "none" else _plain(result)


class Rpc(XmppFace):
    source, title = "rpc", "Jabber-RPC"

    async def on_rpc(self, stanza: Stanza) -> etree._Element:
        actor = self.caller(stanza)
        try:
            name, params = parse_call(stanza.payload)
            with keeping(stanza.origin):  # one's own password change spares this session
                value = await call(name, params, actor)
        except Fault as fault:
            return iq_result(stanza, _response(fault=fault))
        return iq_result(stanza, _response(value=value))


def load(server: "Server") -> "Module":
    module = server.module("rpc", xep="XEP-0009", title="Jabber-RPC", version="2.2.1", status="complete",
                           notes="the command registry as XML-RPC methods: administrators, and users "
                                 "on their own accounts")
    module.iq("set", ns.RPC, "query", Rpc(server).on_rpc, scope="host")
    module.add_feature(ns.RPC)
    module.add_identity("automation", "rpc")  # §4
    return module
