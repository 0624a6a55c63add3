"""Pseudonyms shown to the model as short aliases and mapped back in its answer."""

from __future__ import annotations

from models.dialog.aliases import AliasMap

ALICE = "<PERSON_3c97a1b2c3d4e5f6>"
BOB = "<PERSON_0123456789abcdef>"
PHONE = "<CN_MOBILE_49e582b863d1a7f0>"
LEGACY = "<EMAIL_ADDRESS_49e582b863>"


def test_each_pseudonym_gets_one_alias_by_type_in_order_of_first_appearance() -> None:
    aliases = AliasMap.for_texts([f"{ALICE} called from {PHONE}", f"{BOB} and {ALICE} again, {LEGACY}"])
    assert aliases.by_pseudonym == {ALICE: "P1", PHONE: "M1", BOB: "P2", LEGACY: "E1"}
    assert aliases.to_model(f"{ALICE} met {BOB} ({PHONE})") == "[P1] met [P2] ([M1])"


def test_the_answer_gets_its_pseudonyms_back_and_unknown_brackets_stay() -> None:
    aliases = AliasMap.for_texts([f"{ALICE} {PHONE}"])
    answer = "Call [P1] on [M1]; see [rec_7] and [P9]."
    assert aliases.from_model(answer) == f"Call {ALICE} on {PHONE}; see [rec_7] and [P9]."


def test_aliases_never_take_a_label_the_prompt_already_uses() -> None:
    # A record cited as [P1] must stay that record's citation, not become a person.
    aliases = AliasMap.for_texts([ALICE], reserved=["P1"])
    assert aliases.by_pseudonym[ALICE] == "P2"
    assert aliases.from_model("[P1] says [P2]") == f"[P1] says {ALICE}"


def test_types_that_share_initials_stay_apart() -> None:
    first = "<CN_PASSPORT_0123456789abcdef>"
    second = "<CN_POSTCODE_0123456789abcdef>"
    aliases = AliasMap.for_texts([f"{first} {second}"])
    assert aliases.by_pseudonym == {first: "CP1", second: "CN_POSTCODE1"}
    assert aliases.from_model("[CP1] [CN_POSTCODE1]") == f"{first} {second}"


def test_the_kept_form_round_trips_and_no_pseudonym_means_no_change() -> None:
    aliases = AliasMap.for_texts([f"{ALICE} {PHONE}"])
    again = AliasMap.from_aliases(aliases.as_dict())
    assert again.to_model(ALICE) == "[P1]" and again.from_model("[M1]") == PHONE
    empty = AliasMap.for_texts(["no personal data here [P1]"])
    assert len(empty) == 0 and empty.from_model("[P1]") == "[P1]" and empty.to_model("x") == "x"
