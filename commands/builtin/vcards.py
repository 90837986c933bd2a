"""A user's vCard (XEP-0054 vcard-temp): read and replace, by its owner or an administrator."""

from __future__ import annotations

from lxml import etree

from commands.builtin._common import account_jid, require_account
from commands.registry import Arg, Command, CommandError, Context
from xmppcore import ns
from xmppcore.jid import JID

# The limit the XMPP face applies (vcards.xmpp.MAX_VCARD_BYTES): one vCard, one bound.
MAX_VCARD_BYTES = 64 * 1024
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def vcard_get(ctx: Context, jid: JID) -> str:
    from vcards.actions import get_vcard

    account_jid(jid)
    require_account(jid)
    return get_vcard(jid.local, jid.domain) or ""


def _checked(xml: str) -> str:
    """One <vCard xmlns='vcard-temp'/> element, as the XMPP face would store it."""
    from vcards.xmpp import serialize

    try:
        el = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise CommandError("bad-request", f"not well-formed XML: {exc}", fields={"vcard": "is not XML"}) from None
    if el.tag != ns.q(ns.VCARD, "vCard"):
        raise CommandError("bad-request", "expected a <vCard xmlns='vcard-temp'/> element",
                           fields={"vcard": "must be a vcard-temp <vCard/>"})
    text = serialize(el)
    if len(text.encode("utf-8")) > MAX_VCARD_BYTES:  # XEP-0054 as served here: 64 KiB
        raise CommandError("bad-request", f"a vCard is limited to {MAX_VCARD_BYTES} bytes",
                           fields={"vcard": f"must be at most {MAX_VCARD_BYTES} bytes"})
    return text


def vcard_set(ctx: Context, jid: JID, vcard: str) -> None:
    from vcards.actions import do_set_vcard

    account_jid(jid)
    text = _checked(vcard)
    require_account(jid)
    do_set_vcard(jid.local, jid.domain, text)


USER = Arg("jid", "jid", label="The account (user@domain)")
COMMANDS = (
    Command("vcard_get", "A user's vCard (vcard-temp XML; empty when none was published).", (USER,),
            "string", "user", vcard_get, category="vcards", read_only=True),
    Command("vcard_set", "Replace a user's vCard with a <vCard xmlns='vcard-temp'/> element.",
            (USER, Arg("vcard", "text", label="vCard", help="The <vCard xmlns='vcard-temp'/> XML.")),
            "none", "user", vcard_set, category="vcards"),
)
