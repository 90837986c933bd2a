"""XEP-0072: SOAP Over XMPP. The command registry as SOAP 1.2 operations, with a WSDL 1.1 description served over HTTP at /api/soap.wsdl (§3.4).

A SOAP 1.2 envelope in an <iq type='set'> to a hosted domain (§3.2.1) names an operation in
its Body: the first child's local name is a registry command, its children the arguments
(document/literal; a repeated element is a list). The answer is an envelope whose Body holds
<{op}Response> with a <result/>. Failures are SOAP faults in an <iq type='error'> with
<undefined-condition/> plus the fault's name qualified by http://jabber.org/protocol/soap#fault
(§6): env:Sender for bad input, unknown operations and refused data (with rpc:BadArguments or
rpc:ProcedureNotPresent subcodes, SOAP 1.2 Part 2 §4.4), env:Receiver for internal errors,
env:MustUnderstand for mandatory headers we do not process, env:VersionMismatch for a
SOAP 1.1 envelope. Administrators run what `commands.permissions` allows them; a user of a
hosted domain the commands on their own account (a "user" command that leaves its account
argument out acts on the caller's). Other entities get a plain <forbidden/> (an XMPP
transport-level error, §6 note), as does a call the registry refuses for the caller's rights.

Results in <result/>: a string or number as text; a list as <item/>s; a table as <row/>s with
one child per column; a dict as one child per key (lists repeated). Booleans are
true/false, datetimes XEP-0082 (xs:dateTime).

Hooks handled: iq-set/host/{SOAP 1.2 envelope}:Envelope, iq-set/host/{SOAP 1.1 envelope}:Envelope
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lxml import etree

from accounts.signals import keeping
from commands import execution, registry
from commands.permissions import on_own_account
from commands.registry import Actor, Arg, Command, CommandError
from commands.validation import to_json
from commands.xmppface import XmppFace
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza, iq_result, make

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from xmppd.modules import Module
    from xmppd.server import Server

TNS = "urn:xmppsite:commands"  # the operations' namespace (and the WSDL's targetNamespace)
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_RPC = "http://www.w3.org/2003/05/soap-rpc"  # SOAP 1.2 Part 2 §4.4 fault subcodes
SOAP_FAULT_NS = ns.SOAP_FEATURE + "#fault"  # XEP-0072 §6 application error conditions
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS = "http://www.w3.org/2001/XMLSchema"
_TRUE_TOKENS = ("true", "1")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class SoapFault(Exception):
    """A SOAP 1.2 fault (Part 1 §5.4): code Sender|Receiver|MustUnderstand|VersionMismatch."""

    def __init__(self, code: str, reason: str, subcode: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.subcode = subcode  # a local name in the soap-rpc namespace


def _env(name: str) -> str:
    return ns.q(ns.SOAP_ENV, name)


def _tns(name: str) -> str:
    return ns.q(TNS, name)


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


# -- envelopes -------------------------------------------------------------------------------

def envelope(body_child: etree._Element | None = None) -> tuple[etree._Element, etree._Element]:
    env = etree.Element(_env("Envelope"), nsmap={"env": ns.SOAP_ENV})
    body = etree.SubElement(env, _env("Body"))
    if body_child is not None:
        body.append(body_child)
    return env, body


def fault_envelope(fault: SoapFault) -> etree._Element:
    """SOAP 1.2 Part 1 §5.4: <env:Fault> with Code/Value (+Subcode) and Reason/Text."""
    env = etree.Element(_env("Envelope"), nsmap={"env": ns.SOAP_ENV, "rpc": SOAP_RPC})
    if fault.code == "VersionMismatch":  # §5.4.7: tell which envelope versions we take
        header = etree.SubElement(env, _env("Header"))
        upgrade = etree.SubElement(header, _env("Upgrade"))
        etree.SubElement(upgrade, _env("SupportedEnvelope"), qname="env:Envelope")
    body = etree.SubElement(env, _env("Body"))
    fault_el = etree.SubElement(body, _env("Fault"))
    code = etree.SubElement(fault_el, _env("Code"))
    etree.SubElement(code, _env("Value")).text = f"env:{fault.code}"
    if fault.subcode is not None:
        sub = etree.SubElement(code, _env("Subcode"))
        etree.SubElement(sub, _env("Value")).text = f"rpc:{fault.subcode}"
    reason = etree.SubElement(fault_el, _env("Reason"))
    text = etree.SubElement(reason, _env("Text"))
    text.set(ns.q(ns.XML, "lang"), "en")
    text.text = fault.reason
    return env


def fault_iq(stanza: Stanza, fault: SoapFault) -> etree._Element:
    """XEP-0072 §3.2.1 / §6: the fault envelope in an IQ error with the mapped conditions."""
    iq = make("iq", type_="error", id_=stanza.id, to=stanza.from_, from_=stanza.to)
    iq.append(fault_envelope(fault))
    error = etree.SubElement(iq, ns.q(ns.CLIENT, "error"))
    error.set("type", "modify" if fault.code == "Sender" else "cancel")
    etree.SubElement(error, ns.q(ns.STANZAS, "undefined-condition"), nsmap={None: ns.STANZAS})
    etree.SubElement(error, ns.q(SOAP_FAULT_NS, fault.code), nsmap={None: SOAP_FAULT_NS})
    return iq


# -- requests ------------------------------------------------------------------------------------

def check_headers(env: etree._Element) -> None:
    """SOAP 1.2 Part 1 §5.2.3: a header block marked mustUnderstand that we do not process."""
    header = env.find(_env("Header"))
    for block in _elements(header) if header is not None else []:
        if (block.get(_env("mustUnderstand")) or "").strip() in _TRUE_TOKENS:
            raise SoapFault("MustUnderstand", f"header {etree.QName(block).text} is not understood")


def parse_operation(env: etree._Element) -> tuple[str, dict[str, Any]]:
    """(operation, raw arguments) from the Body's first element."""
    body = env.find(_env("Body"))
    children = _elements(body) if body is not None else []
    if not children:
        raise SoapFault("Sender", "the envelope has no operation in its Body")
    op = children[0]
    args: dict[str, Any] = {}
    for child in _elements(op):
        name = etree.QName(child).localname
        value = child.text or ""
        if name in args:  # a repeated element is a list (maxOccurs='unbounded' in the WSDL)
            args[name] = (args[name] if isinstance(args[name], list) else [args[name]]) + [value]
        else:
            args[name] = value
    return etree.QName(op).localname, args


def _normalize(cmd: Command, raw: dict[str, Any]) -> dict[str, Any]:
    """List-typed arguments may arrive as one element: make them lists."""
    out = dict(raw)
    for arg in cmd.args:
        if arg.type in ("jids", "list-multi") and isinstance(out.get(arg.name), str):
            out[arg.name] = [out[arg.name]]
    return out


def fault_for(exc: CommandError) -> SoapFault:
    if exc.code == "internal":
        return SoapFault("Receiver", exc.message)
    if exc.code == "bad-request":
        return SoapFault("Sender", exc.message, "BadArguments")
    return SoapFault("Sender", f"{exc.code}: {exc.message}")


# -- results -------------------------------------------------------------------------------------

def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _xml_name(key: str) -> str:
    return key if _NAME.fullmatch(key) else "_" + re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def _put(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _put(parent, name, item)
    elif isinstance(value, dict):
        el = etree.SubElement(parent, _tns(_xml_name(name)))
        for key, item in value.items():
            _put(el, key, item)
    else:
        etree.SubElement(parent, _tns(_xml_name(name))).text = _scalar(value)


def response_element(cmd: Command, result: Any) -> etree._Element:
    """<tns:{op}Response><tns:result>...</tns:result></tns:{op}Response> (document/literal)."""
    response = etree.Element(_tns(f"{cmd.name}Response"), nsmap={"tns": TNS})
    result = to_json(result)
    if result is None:
        return response
    holder = etree.SubElement(response, _tns("result"))
    if isinstance(result, list):
        item_name = "row" if cmd.result == "table" else "item"
        for item in result:
            _put(holder, item_name, item)
    elif isinstance(result, dict):
        for key, value in result.items():
            _put(holder, key, value)
    else:
        holder.text = _scalar(result)
    return response


async def execute(env: etree._Element, actor: Actor) -> etree._Element:
    """Run the envelope's operation; the response envelope, or SoapFault / StanzaError."""
    check_headers(env)
    op, raw = parse_operation(env)
    try:
        cmd = registry.get(op)
    except CommandError:
        raise SoapFault("Sender", f"no operation {op!r}", "ProcedureNotPresent") from None
    try:
        result = await execution.run(cmd.name, actor, on_own_account(cmd, actor, _normalize(cmd, raw)))
    except CommandError as exc:
        if exc.code == "forbidden":
            raise StanzaError("forbidden", exc.message) from None
        raise fault_for(exc) from None
    return envelope(response_element(cmd, result))[0]


class Soap(XmppFace):
    source, title = "soap", "SOAP over XMPP"

    async def on_envelope(self, stanza: Stanza) -> etree._Element:
        actor = self.caller(stanza)
        try:
            with keeping(stanza.origin):  # one's own password change spares this session
                return iq_result(stanza, await execute(stanza.payload, actor))
        except SoapFault as fault:
            return fault_iq(stanza, fault)


def on_soap11(stanza: Stanza) -> etree._Element:
    """SOAP 1.2 Part 1 §5.4.7: an envelope of another version is a VersionMismatch fault."""
    return fault_iq(stanza, SoapFault("VersionMismatch", "only SOAP 1.2 envelopes are accepted"))


# -- WSDL (XEP-0072 §3.4) ------------------------------------------------------------------------

def _xs(name: str) -> str:
    return ns.q(XS, name)


_XS_TYPES = {"int": "xs:integer", "bool": "xs:boolean", "datetime": "xs:dateTime"}


def _arg_element(seq: etree._Element, arg: Arg) -> None:
    el = etree.SubElement(seq, _xs("element"), name=arg.name)
    if not arg.required or arg.default is not None:
        el.set("minOccurs", "0")
    if arg.type in ("jids", "list-multi"):
        el.set("maxOccurs", "unbounded")
    if arg.choices:
        restriction = etree.SubElement(etree.SubElement(el, _xs("simpleType")), _xs("restriction"),
                                       base="xs:string")
        for choice in arg.choices:
            etree.SubElement(restriction, _xs("enumeration"), value=choice)
    else:
        el.set("type", _XS_TYPES.get(arg.type, "xs:string"))
    if arg.help or arg.label:  # XML Schema §3.3.2: the annotation comes first
        annotation = etree.Element(_xs("annotation"))
        etree.SubElement(annotation, _xs("documentation")).text = arg.help or arg.label
        el.insert(0, annotation)


def _result_element(seq: etree._Element, cmd: Command) -> None:
    if cmd.result == "none":
        return
    el = etree.SubElement(seq, _xs("element"), name="result", minOccurs="0")
    if cmd.result in ("string", "int"):
        el.set("type", "xs:integer" if cmd.result == "int" else "xs:string")
        return
    inner = etree.SubElement(etree.SubElement(el, _xs("complexType")), _xs("sequence"))
    if cmd.result == "list":
        etree.SubElement(inner, _xs("element"), name="item", type="xs:string", minOccurs="0",
                         maxOccurs="unbounded")
    elif cmd.result == "table":
        row = etree.SubElement(inner, _xs("element"), name="row", minOccurs="0", maxOccurs="unbounded")
        columns = etree.SubElement(etree.SubElement(row, _xs("complexType")), _xs("sequence"))
        for column in cmd.columns:
            etree.SubElement(columns, _xs("element"), name=_xml_name(column), type="xs:string",
                             minOccurs="0", maxOccurs="unbounded")
        if not cmd.columns:
            etree.SubElement(columns, _xs("any"), processContents="lax", minOccurs="0", maxOccurs="unbounded")
    else:  # dict: keys are the command's own
        etree.SubElement(inner, _xs("any"), processContents="lax", minOccurs="0", maxOccurs="unbounded")


def wsdl_document(commands: list[Command], domain: str) -> etree._Element:
    """WSDL 1.1 with the SOAP 1.2 binding over XMPP (XEP-0072 §3.4 rules 1-4)."""
    w = lambda name: ns.q(WSDL, name)  # noqa: E731
    s = lambda name: ns.q(WSDL_SOAP12, name)  # noqa: E731
    defs = etree.Element(w("definitions"), nsmap={None: WSDL, "soap12": WSDL_SOAP12, "xs": XS, "tns": TNS},
                         name="XmppsiteCommands", targetNamespace=TNS)
    schema = etree.SubElement(etree.SubElement(defs, w("types")), _xs("schema"), targetNamespace=TNS,
                              elementFormDefault="qualified")
    for cmd in commands:
        request = etree.SubElement(schema, _xs("element"), name=cmd.name)
        seq = etree.SubElement(etree.SubElement(request, _xs("complexType")), _xs("sequence"))
        for arg in cmd.args:
            _arg_element(seq, arg)
        response = etree.SubElement(schema, _xs("element"), name=f"{cmd.name}Response")
        _result_element(etree.SubElement(etree.SubElement(response, _xs("complexType")), _xs("sequence")), cmd)
    for cmd in commands:
        for suffix, element in (("Input", cmd.name), ("Output", f"{cmd.name}Response")):
            message = etree.SubElement(defs, w("message"), name=f"{cmd.name}{suffix}")
            etree.SubElement(message, w("part"), name="parameters", element=f"tns:{element}")
    port_type = etree.SubElement(defs, w("portType"), name="CommandsPortType")
    for cmd in commands:
        op = etree.SubElement(port_type, w("operation"), name=cmd.name)
        etree.SubElement(op, w("documentation")).text = cmd.description
        etree.SubElement(op, w("input"), message=f"tns:{cmd.name}Input")
        etree.SubElement(op, w("output"), message=f"tns:{cmd.name}Output")
    binding = etree.SubElement(defs, w("binding"), name="CommandsXmppBinding", type="tns:CommandsPortType")
    # Rules 1 and 2: the XMPP transport, document style.
    etree.SubElement(binding, s("binding"), style="document", transport=ns.SOAP_FEATURE)
    for cmd in commands:
        op = etree.SubElement(binding, w("operation"), name=cmd.name)
        etree.SubElement(op, s("operation"))
        for direction in ("input", "output"):
            etree.SubElement(etree.SubElement(op, w(direction)), s("body"), use="literal")
    service = etree.SubElement(defs, w("service"), name="XmppsiteCommandsService")
    etree.SubElement(service, w("documentation")).text = "The xmppsite operator commands."
    port = etree.SubElement(service, w("port"), name="CommandsPort", binding="tns:CommandsXmppBinding")
    etree.SubElement(port, s("address"), location=f"xmpp:{domain}")  # rule 4: an XMPP URI (RFC 5122)
    return defs


def wsdl_view(request: "HttpRequest") -> "HttpResponse":
    """GET /api/soap.wsdl: the WSDL for the registry, addressed to the requested domain when
    it is hosted here (else the first hosted domain)."""
    from django.http import HttpResponse, HttpResponseNotAllowed

    from commands.builtin._common import hosted_domains

    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    domains = hosted_domains()
    host = request.get_host().rsplit(":", 1)[0].lower() if request.get_host() else ""
    domain = host if host in domains else domains[0]
    doc = wsdl_document(registry.all_commands(), domain)
    return HttpResponse(etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True),
                        content_type="application/wsdl+xml; charset=utf-8")


def load(server: "Server") -> "Module":
    module = server.module("soap", xep="XEP-0072", title="SOAP Over XMPP", version="1.0.1", status="partial",
                           notes="IQ request-response with the command registry; WSDL at /api/soap.wsdl; "
                                 "no message-stanza exchange, no attachments")
    module.iq("set", ns.SOAP_ENV, "Envelope", Soap(server).on_envelope, scope="host")
    module.iq("set", SOAP11_ENV, "Envelope", on_soap11, scope="host")
    module.add_feature(ns.SOAP_FEATURE)
    module.add_identity("automation", "soap")  # §3.1
    return module
