"""vcards.actions: one vCard per account, replaced on set, gone with the account."""

from __future__ import annotations

import pytest

from vcards import actions
from vcards.models import VCard

pytestmark = pytest.mark.django_db

V1 = "<vCard xmlns='vcard-temp'><FN>One</FN></vCard>"
V2 = "<vCard xmlns='vcard-temp'><FN>Two</FN></vCard>"


def test_set_replaces_the_one_row_of_that_account() -> None:
    assert actions.get_vcard("bob", "localhost") is None
    actions.do_set_vcard("bob", "localhost", V1)
    first = VCard.objects.get().updated_at
    actions.do_set_vcard("bob", "localhost", V2)
    assert actions.get_vcard("bob", "localhost") == V2
    assert VCard.objects.count() == 1
    assert VCard.objects.get().updated_at >= first
    assert actions.get_vcard("bob", "example.org") is None


def test_deleting_the_account_deletes_its_vcard() -> None:
    from accounts.actions import do_create_account, do_delete_account

    do_create_account("bob", "localhost", "secret")
    actions.do_set_vcard("bob", "localhost", V1)
    actions.do_set_vcard("carol", "localhost", V2)
    do_delete_account("bob", "localhost")
    assert actions.get_vcard("bob", "localhost") is None
    assert actions.get_vcard("carol", "localhost") == V2
