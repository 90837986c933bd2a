"""XEP-0133: Service Administration forms over the registry: each use case's form (the field
names §4 specifies: accountjid, accountjids, password, password-verify, max_items,
announcement, motd, ...), and how its values and results map to registry commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from lxml import etree

from commands.adhoc.fields import text_value
from commands.registry import Command
from commands.validation import to_json
from xmppcore import forms, ns

MAX_LIST_ITEMS = 10000  # XEP-0133 lists: "none" still has a bound
ADMIN_PREFIX = ns.ADMIN + "#"


def _jid_field(var: str, label: str, multi: bool = False) -> forms.Field:
    return forms.Field(var, "jid-multi" if multi else "jid-single", label=label, required=True)


def _max_items() -> forms.Field:
    # XEP-0133 §4.18 / §4.20: the list's size limit, with these options.
    options = [forms.Option(v, v) for v in ("25", "50", "75", "100", "150", "200")]
    return forms.Field("max_items", "list-single", label="Maximum number of items to show",
                       options=options + [forms.Option("none", "None")])


@dataclass(frozen=True)
class AdminSpec:
    """One XEP-0133 use case: its form, and how its values and result map to the registry."""

    title: str
    instructions: str
    fields: tuple[forms.Field, ...] = ()
    result: str | None = None  # "count" | "jids" | "roster": how the result is shown
    result_var: str = ""
    result_label: str = ""
    text_var: str | None = None  # the text-multi field feeding the command's text argument
    prefill_motd: bool = False


ADMIN_SPECS: dict[str, AdminSpec] = {
    # XEP-0133 §4.1
    "add-user": AdminSpec("Adding a User", "Fill out this form to add a user.", (
        _jid_field("accountjid", "The Jabber ID for the account to be added"),
        forms.Field("password", "text-private", label="The password for this account", required=True),
        forms.Field("password-verify", "text-private", label="Retype password", required=True))),
    # §4.2-§4.5
    "delete-user": AdminSpec("Deleting a User", "Fill out this form to delete a user.",
                             (_jid_field("accountjids", "The Jabber ID(s) to delete", True),)),
    "disable-user": AdminSpec("Disabling a User", "Fill out this form to disable a user.",
                              (_jid_field("accountjids", "The Jabber ID(s) to disable", True),)),
    "reenable-user": AdminSpec("Re-Enabling a User", "Fill out this form to re-enable a user.",
                               (_jid_field("accountjids", "The Jabber ID(s) to re-enable", True),)),
    "end-user-session": AdminSpec("Ending a User Session", "Fill out this form to end a user's session.",
                                  (_jid_field("accountjids", "The Jabber ID(s) for which to end sessions", True),)),
    # §4.7
    "change-user-password": AdminSpec("Changing a User Password", "Fill out this form to change a user's password.", (
        _jid_field("accountjid", "The Jabber ID for this account"),
        forms.Field("password", "text-private", label="The password for this account", required=True))),
    # §4.8: one account per request (XEP-0122 list-range), its roster in the result
    "get-user-roster": AdminSpec("Getting a User's Roster", "Fill out this form to get a user's roster.", (
        forms.Field("accountjids", "jid-multi", label="The Jabber ID(s) for which to retrieve the roster",
                    required=True, validate=forms.Validation(list_min=1, list_max=1)),),
        result="roster"),
    # §4.13, §4.15
    "get-registered-users-num": AdminSpec("Getting the Number of Registered Users", "", result="count",
                                          result_var="registeredusersnum",
                                          result_label="The number of registered users"),
    "get-online-users-num": AdminSpec("Getting the Number of Online Users", "", result="count",
                                      result_var="onlineusersnum", result_label="The number of online users"),
    # §4.18, §4.20
    "get-registered-users-list": AdminSpec("Getting the List of Registered Users", "", (_max_items(),),
                                           result="jids", result_var="registereduserjids",
                                           result_label="The list of all users"),
    "get-online-users-list": AdminSpec("Getting the List of Online Users", "", (_max_items(),),
                                       result="jids", result_var="onlineuserjids",
                                       result_label="The list of all online users"),
    # §4.23-§4.26
    "announce": AdminSpec("Making an Announcement", "Fill out this form to make an announcement to all "
                          "active users of this service.",
                          (forms.Field("announcement", "text-multi", label="Announcement", required=True),),
                          text_var="announcement"),
    "set-motd": AdminSpec("Setting the Message of the Day", "Fill out this form to set the message of the day.",
                          (forms.Field("motd", "text-multi", label="Message of the Day", required=True),),
                          text_var="motd"),
    "edit-motd": AdminSpec("Editing the Message of the Day", "Fill out this form to edit the message of the day.",
                           (forms.Field("motd", "text-multi", label="Message of the Day", required=True),),
                           text_var="motd", prefill_motd=True),
    "delete-motd": AdminSpec("Deleting the Message of the Day", ""),
}


def admin_fragment(node: str) -> str | None:
    return node[len(ADMIN_PREFIX):] if node.startswith(ADMIN_PREFIX) else None


# XEP-0133 use cases served by another use case's registry command (§4.25: editing the
# message of the day is setting it, from a form filled with the current one).
ADMIN_ALIASES = {"edit-motd": "set-motd"}


def spec_fits(spec: AdminSpec, cmd: Command) -> bool:
    """A registry command can sit behind an XEP-0133 form when the form fills its required args."""
    vars_ = {f.var for f in spec.fields}
    for arg in cmd.args:
        if not arg.required or arg.default is not None:
            continue
        if arg.type == "jid" and vars_ & {"accountjid", "accountjids"}:
            continue
        if arg.name == "password" and "password" in vars_:
            continue
        if arg.type == "domain" or (arg.type == "text" and spec.text_var):
            continue
        return False
    return True


def admin_result_form(spec: AdminSpec, results: list[Any], values: dict[str, list[str]]) -> forms.Form | None:
    """XEP-0133 result forms: FORM_TYPE, then the use case's own fields (§4.8, §4.13-§4.20)."""
    if spec.result is None:
        return None
    form = forms.Form(type="result", title=spec.title)
    form.add(forms.Field(forms.FORM_TYPE, "hidden", values=[ns.ADMIN]))
    result = to_json(results[0]) if results else None
    if spec.result == "count":
        form.add(forms.Field(spec.result_var, "text-single", label=spec.result_label, values=[text_value(result)]))
    elif spec.result == "jids":
        jids = [row.get("jid") if isinstance(row, dict) else row for row in (result or [])]
        limit = (values.get("max_items") or ["none"])[0]
        bound = MAX_LIST_ITEMS if limit in ("none", "") else int(limit)
        form.add(forms.Field(spec.result_var, "jid-multi", label=spec.result_label,
                             values=[str(j) for j in jids[:bound]]))
    return form


def roster_query(rows: Iterable[dict[str, Any]]) -> etree._Element:
    """XEP-0133 §4.8: the user's roster as a jabber:iq:roster <query/> inside the result form."""
    query = etree.Element(ns.q(ns.ROSTER, "query"), nsmap={None: ns.ROSTER})
    for row in rows:
        item = etree.SubElement(query, ns.q(ns.ROSTER, "item"), jid=str(row.get("jid")))
        if row.get("name"):
            item.set("name", str(row["name"]))
        item.set("subscription", str(row.get("subscription") or "none"))
        if row.get("ask"):
            item.set("ask", str(row["ask"]))
        for group in row.get("groups") or ():
            etree.SubElement(item, ns.q(ns.ROSTER, "group")).text = str(group)
    return query


