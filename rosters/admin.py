"""Rosters in the Django admin. Every change goes through `rosters.actions`.

An operator may add a contact, rename it, regroup it or remove it; the subscription
state (RFC 6121 §3) only changes through the protocol, so it is shown read-only. A
user who is online sees admin changes at their next login.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from rosters import actions
from rosters.items import MAX_GROUP_LENGTH
from rosters.models import RosterItem, RosterVersion
from xmppcore.jid import JID, InvalidJID

_STATE_FIELDS = ("subscription", "ask", "approved", "is_listed", "pending_in", "updated_at")


class RosterItemForm(forms.ModelForm):
    """Owner, contact, name and groups (one per line), checked as a roster set would be."""

    groups_text = forms.CharField(label="Groups", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="One group per line.")

    class Meta:
        model = RosterItem
        fields = ("username", "domain", "jid", "name")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["groups_text"].initial = "\n".join(self.instance.groups or ())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        username = data.get("username") or self.instance.username
        domain = data.get("domain") or self.instance.domain
        try:
            owner = JID.parse(f"{username}@{domain}")
            contact = JID.parse(data.get("jid") or self.instance.jid)
        except InvalidJID as exc:
            raise forms.ValidationError(f"Not a valid JID: {exc}") from None
        if contact.resource is not None:
            raise forms.ValidationError("Roster items are bare JIDs.")
        groups = [g.strip() for g in (data.get("groups_text") or "").splitlines() if g.strip()]
        if len(set(groups)) != len(groups):
            raise forms.ValidationError("A group is repeated.")
        if any(len(g) > MAX_GROUP_LENGTH for g in groups):
            raise forms.ValidationError(f"Group names are limited to {MAX_GROUP_LENGTH} characters.")
        data.update(username=owner.local, domain=owner.domain, jid=str(contact), groups=groups)
        return data

    def validate_unique(self) -> None:
        """The owner and contact are unique once normalized; `do_set_item` updates in place."""


@admin.register(RosterItem)
class RosterItemAdmin(admin.ModelAdmin):
    form = RosterItemForm
    list_display = ("owner", "jid", "name", "subscription", "ask", "has_pending_in", "approved",
                    "is_listed", "group_list", "updated_at")
    list_filter = ("subscription", "ask", "approved", "is_listed", "domain")
    search_fields = ("username", "domain", "jid", "name")
    readonly_fields = _STATE_FIELDS

    def get_fields(self, request: HttpRequest, obj: RosterItem | None = None) -> Any:
        return ("username", "domain", "jid", "name", "groups_text") + (_STATE_FIELDS if obj else ())

    def get_readonly_fields(self, request: HttpRequest, obj: RosterItem | None = None) -> Any:
        # The owner and contact name the row: fixed once it exists.
        return _STATE_FIELDS + (("username", "domain", "jid") if obj else ())

    @admin.display(description="pending in", boolean=True)
    def has_pending_in(self, obj: RosterItem) -> bool:
        return bool(obj.pending_in)

    @admin.display(description="groups")
    def group_list(self, obj: RosterItem) -> str:
        return ", ".join(obj.groups or ())

    def save_model(self, request: HttpRequest, obj: RosterItem, form: Any, change: bool) -> None:
        data = form.cleaned_data
        username, domain = (obj.username, obj.domain) if change else (data["username"], data["domain"])
        contact = obj.jid if change else data["jid"]
        actions.do_set_item(username, domain, contact, data.get("name") or "", data["groups"])
        saved = RosterItem.objects.get(username=username, domain=domain, jid=contact)
        obj.pk, obj.username, obj.domain, obj.jid = saved.pk, saved.username, saved.domain, saved.jid

    def delete_model(self, request: HttpRequest, obj: RosterItem) -> None:
        self._delete(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RosterItem]) -> None:
        for obj in list(queryset):
            self._delete(obj)

    @staticmethod
    def _delete(obj: RosterItem) -> None:
        try:
            actions.do_remove_item(obj.username, obj.domain, obj.jid)
        except actions.ItemNotFound:  # an unlisted pending request: drop it all the same
            actions.do_inbound(obj.username, obj.domain, JID.parse(obj.jid), "unsubscribe")


@admin.register(RosterVersion)
class RosterVersionAdmin(admin.ModelAdmin):
    """Read-only: versions move with the rosters (RFC 6121 §2.6)."""

    list_display = ("owner", "version")
    search_fields = ("username", "domain")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
