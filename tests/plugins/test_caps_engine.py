"""XEP-0115 §5: the verification string and its checks, without sockets (plugins/caps.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from plugins.caps import DiscoInfo, IllFormed, parse_info, ver_of, verification_string

INFO = "http://jabber.org/protocol/disco#info"

# §5.2 "Simple Generation Example"
SIMPLE = f"""<query xmlns='{INFO}'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>"""

# §5.3 "Complex Generation Example" (identities in two languages, one extended form)
COMPLEX = f"""<query xmlns='{INFO}'>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>"""


def info(xml: str) -> DiscoInfo:
    return parse_info(etree.fromstring(xml))


def test_simple_example_of_the_xep() -> None:
    parsed = info(SIMPLE)
    assert verification_string(parsed) == (
        "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<"
        "http://jabber.org/protocol/muc<")
    assert ver_of(parsed) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_complex_example_of_the_xep() -> None:
    parsed = info(COMPLEX)
    assert verification_string(parsed).startswith("client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<")
    assert ver_of(parsed) == "q07IKJEyjvHSyhy//CH0CxmKi8w="


def test_order_of_the_answer_does_not_matter_and_other_hashes() -> None:
    shuffled = SIMPLE.replace("<feature var='http://jabber.org/protocol/muc'/>", "")
    shuffled = shuffled.replace("<identity", "<feature var='http://jabber.org/protocol/muc'/><identity")
    assert ver_of(info(shuffled)) == ver_of(info(SIMPLE))
    assert ver_of(info(SIMPLE), "sha-256") != ver_of(info(SIMPLE), "sha-1")
    assert len(ver_of(info(SIMPLE), "sha-256")) == 44


@pytest.mark.parametrize("extra", [
    "<feature var='http://jabber.org/protocol/muc'/>",  # §5.4 3.4: a feature twice
    "<identity category='client' name='Exodus 0.9.1' type='pc'/>",  # §5.4 3.3: an identity twice
    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>a</value>"
    "<value>b</value></field></x>",  # §5.4 3.5: FORM_TYPE with two different values
])
def test_ill_formed_answers(extra: str) -> None:
    with pytest.raises(IllFormed):
        info(SIMPLE.replace("</query>", extra + "</query>"))


def test_two_forms_of_one_type_are_ill_formed() -> None:
    form = ("<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>"
            "<value>urn:x</value></field></x>")
    with pytest.raises(IllFormed):
        info(SIMPLE.replace("</query>", form + form + "</query>"))


def test_a_form_whose_form_type_is_not_hidden_is_ignored() -> None:
    form = ("<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:x</value>"
            "</field><field var='a'><value>1</value></field></x>")
    assert ver_of(info(SIMPLE.replace("</query>", form + "</query>"))) == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_json_round_trip_keeps_the_hash() -> None:
    parsed = info(COMPLEX)
    again = DiscoInfo.from_json(parsed.to_json())
    assert again == parsed and ver_of(again) == "q07IKJEyjvHSyhy//CH0CxmKi8w="
