"""Operator commands in the Django admin: API tokens (created here, shown once), messages of
the day, and runs of long commands (read-only, cancellable). Writes go through
`commands.actions`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from commands import actions, execution, live
from commands.models import ApiToken, CommandRun, MessageOfTheDay
from xmppcore.jid import JID, InvalidJID


class ApiTokenForm(forms.ModelForm):
    domain = forms.ChoiceField(required=False, help_text="Empty: server-wide.")

    class Meta:
        model = ApiToken
        fields = ("name", "domain", "account", "read_only", "expires_at", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "domain" in self.fields:  # read-only once the token exists
            self.fields["domain"].choices = [("", "(server-wide)")] + [(d, d) for d in settings.XMPP_DOMAINS]

    def clean_account(self) -> str:
        """The owning account as a normalized bare JID (RFC 7622), or empty."""
        text = (self.cleaned_data.get("account") or "").strip()
        if not text:
            return ""
        try:
            jid = JID.parse(text)
        except InvalidJID as exc:
            raise forms.ValidationError(f"not a JID: {exc}") from None
        if jid.local is None or jid.resource is not None:
            raise forms.ValidationError("an account is a bare JID, user@domain")
        return str(jid)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "prefix", "scope", "account", "is_active", "created_at", "last_used_at",
                    "expires_at")
    list_filter = ("is_active", "read_only", "domain")
    search_fields = ("name", "prefix", "account")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        if obj is None:
            return ["name", "domain", "account", "read_only", "expires_at"]
        return ["name", "prefix", "domain", "account", "read_only", "is_active", "expires_at", "created_at",
                "last_used_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        # A token's scope is fixed once issued: make a new one instead.
        return self.readonly_fields + (("domain", "account", "read_only") if obj is not None else ())

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, raw = actions.do_create_token(obj.name, obj.domain, obj.read_only, obj.expires_at,
                                             account=obj.account)
        obj.pk = token.pk
        obj.refresh_from_db()
        messages.warning(request, f"The token (shown only now, copy it): {raw}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            actions.do_revoke_token(token.id)
        messages.success(request, f"{queryset.count()} token(s) revoked.")


def _motd_changed(domain: str, subject: str, body: str | None) -> None:
    """Tell the server running in this process (the admin is served by xmppd's Daphne)."""
    running = live.current()
    if running is not None and running.loop is not None:
        server, loop = running.server, running.loop
        loop.call_soon_threadsafe(server.hooks.fire_sync, "commands/motd-changed", domain, subject, body)


@admin.register(MessageOfTheDay)
class MessageOfTheDayAdmin(admin.ModelAdmin):
    list_display = ("domain", "subject", "updated_at")
    readonly_fields = ("updated_at",)

    def save_model(self, request: HttpRequest, obj: MessageOfTheDay, form: Any, change: bool) -> None:
        if change and "domain" in form.changed_data:
            actions.do_delete_motd(form.initial["domain"])
            _motd_changed(form.initial["domain"], "", None)
        saved = actions.do_set_motd(obj.domain, obj.body, obj.subject)
        obj.pk = saved.pk
        _motd_changed(obj.domain, obj.subject, obj.body)

    def delete_model(self, request: HttpRequest, obj: MessageOfTheDay) -> None:
        actions.do_delete_motd(obj.domain)
        _motd_changed(obj.domain, "", None)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MessageOfTheDay]) -> None:
        for motd in list(queryset):
            self.delete_model(request, motd)


@admin.register(CommandRun)
class CommandRunAdmin(admin.ModelAdmin):
    list_display = ("command", "status", "done", "total", "note", "owner", "created_at", "finished_at")
    list_filter = ("status", "command")
    actions = ("cancel",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CommandRun | None = None) -> bool:
        return False

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[CommandRun]) -> None:
        for run in queryset:
            execution.cancel(str(run.id))
        messages.success(request, "Cancel requested.")
