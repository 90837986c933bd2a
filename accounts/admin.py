"""XMPP accounts in the Django admin. Every change goes through `accounts.actions`.

The SCRAM salts and keys are never shown: the change form lists only the JID, the
enabled flag and the XEP-0012 logout data; passwords are set on a separate page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import actions
from accounts.models import Account


class _PasswordFields(forms.Form):
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password (again)", strip=False, widget=forms.PasswordInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise forms.ValidationError("The two passwords differ.")
        return data


class SetPasswordForm(_PasswordFields):
    """The admin's set-password page."""


class AccountCreationForm(forms.ModelForm):
    """The add form: username, domain and a password; `do_create_account` does the rest."""

    domain = forms.ChoiceField()
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Password (again)", strip=False, widget=forms.PasswordInput)

    class Meta:
        model = Account
        fields = ("username", "domain", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = [(d, d) for d in settings.XMPP_DOMAINS]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            raise forms.ValidationError("The two passwords differ.")
        username, domain = data.get("username"), data.get("domain")
        if username and domain:
            try:
                jid = actions.parse_account_jid(username, domain)
            except actions.InvalidAccountJID as exc:
                raise forms.ValidationError(str(exc)) from None
            if actions.account_exists(jid.local, jid.domain):
                raise forms.ValidationError(f"The account {jid} already exists.")
        return data

    def validate_unique(self) -> None:
        """Uniqueness is checked on the normalized JID in clean(), and by the database."""


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("jid", "is_active", "created_at", "last_logout_at", "last_status")
    list_filter = ("is_active", "domain")
    search_fields = ("username", "domain", "last_status")
    ordering = ("domain", "username")
    actions = ("enable_accounts", "disable_accounts")
    # Only these appear on the change page: never a salt or a key.
    fields = ("username", "domain", "is_active", "created_at", "last_logout_at", "last_status",
              "password_link")
    readonly_fields = ("username", "domain", "created_at", "last_logout_at", "last_status",
                       "password_link")

    # -- forms -------------------------------------------------------------------
    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> Any:
        if obj is None:
            return ("username", "domain", "password1", "password2", "is_active")
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Account | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = AccountCreationForm
            kwargs["fields"] = ("username", "domain", "is_active")
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="Password")
    def password_link(self, obj: Account) -> str:
        url = reverse("admin:accounts_account_password", args=[obj.pk])
        return format_html('<a href="{}">Set a new password</a>', url)

    # -- writes go through accounts.actions ------------------------------------------
    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        if change:
            actions.do_set_active(obj.username, obj.domain, obj.is_active)
            return
        data = form.cleaned_data
        created = actions.do_create_account(data["username"], data["domain"], data["password1"])
        if not data.get("is_active", True):
            actions.do_set_active(created.username, created.domain, False)
            created.is_active = False
        obj.pk, obj.username, obj.domain = created.pk, created.username, created.domain
        obj.is_active, obj.created_at = created.is_active, created.created_at

    def delete_model(self, request: HttpRequest, obj: Account) -> None:
        actions.do_delete_account(obj.username, obj.domain)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        for account in list(queryset):
            actions.do_delete_account(account.username, account.domain)

    @admin.action(description="Enable selected accounts", permissions=["change"])
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description="Disable selected accounts", permissions=["change"])
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Account], active: bool) -> None:
        accounts = list(queryset)
        for account in accounts:
            actions.do_set_active(account.username, account.domain, active)
        verb = "enabled" if active else "disabled"
        self.message_user(request, f"{len(accounts)} account(s) {verb}.", messages.SUCCESS)

    # -- the set-password page ---------------------------------------------------------
    def get_urls(self) -> list[Any]:
        custom = [path("<int:pk>/password/", self.admin_site.admin_view(self.password_view),
                       name="accounts_account_password")]
        return custom + super().get_urls()

    def password_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(Account, pk=pk)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        form = SetPasswordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                actions.do_set_password(account.username, account.domain,
                                        form.cleaned_data["password1"])
            except actions.AccountError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Password of {account.jid} changed.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set the password of {account.jid}",
            "form": form,
            "account": account,
            "opts": self.model._meta,
            "original": account,
        }
        return TemplateResponse(request, "admin/accounts/account/password.html", context)
