"""Protected terms: no rule, from any pack, rewrites text inside them."""

from __future__ import annotations

from collections.abc import Callable

from models.cleaning import RuleEngine, RulePack, load_bundled_packs

MakePack = Callable[..., RulePack]


def test_bundled_protected_term_containing_an_abbreviation_is_kept(bundled: RuleEngine) -> None:
    # Without protection "PO" followed by a space would expand to 口服.
    result = bundled.clean("寄到 PO Box 1234，po 给药")
    assert result.text == "寄到 PO Box 1234，口服 给药"
    assert result.rule_hits == {"medical.route_oral": 1}


def test_protected_product_name_keeps_its_number_and_letters(bundled: RuleEngine) -> None:
    assert bundled.clean("BID-Pro 2000mg bid").text == "BID-Pro 2000mg 每日两次"


def test_protection_is_case_sensitive(bundled: RuleEngine) -> None:
    assert bundled.clean("po box").text == "口服 box"


def test_protected_term_shields_every_rule_kind(make_pack: MakePack) -> None:
    pack = make_pack(
        {"id": "t.abbr", "kind": "abbreviation", "terms": {"tid": "每日三次"}},
        {"id": "t.unit", "kind": "unit", "canonical": "mg", "aliases": ["mg"]},
        {"id": "t.regex", "kind": "regex", "pattern": "Kit", "replacement": "套装"},
        {"id": "t.nfkc", "kind": "unicode_nfkc"},
        {"id": "t.ws", "kind": "collapse_whitespace"},
        {"id": "t.markup", "kind": "strip_markup"},
        protected=["TID 5mg Kit", "Ｘ  &amp;"],
    )
    engine = RuleEngine([pack])
    text = "TID 5mg Kit  and tid 5mg Kit, Ｘ  &amp; Ｘ  &amp;x"
    result = engine.clean(text)
    assert result.text == "TID 5mg Kit and 每日三次 5 mg 套装, Ｘ  &amp; Ｘ  &amp;x"


def test_protected_terms_of_one_pack_apply_to_rules_of_another(make_pack: MakePack) -> None:
    extra = make_pack(name="products", protected=["Super BID 3"])
    engine = RuleEngine([*load_bundled_packs(), extra])
    assert engine.clean("Super BID 3 bid").text == "Super BID 3 每日两次"


def test_longest_overlapping_protected_term_wins(make_pack: MakePack) -> None:
    pack = make_pack(
        {"id": "t.abbr", "kind": "abbreviation", "terms": {"po": "口服", "bid": "每日两次"}},
        protected=["PO", "PO bid"],
    )
    assert RuleEngine([pack]).clean("PO bid, PO, po bid").text == "PO bid, PO, 口服 每日两次"


def test_term_that_appears_only_after_normalisation_is_protected(bundled: RuleEngine) -> None:
    # Protected spans are found again after each rule that changes the text.
    assert bundled.clean("<b>PO</b>&nbsp;Box　po").text == "PO Box 口服"


def test_neighbours_of_a_protected_term_are_judged_in_full_context(make_pack: MakePack) -> None:
    # "bid" is glued to the letters of the protected term, so it is part of a word and stays.
    pack = make_pack({"id": "t.abbr", "kind": "abbreviation", "terms": {"bid": "每日两次"}}, protected=["Foo"])
    assert RuleEngine([pack]).clean("Foobid bidFoo Foo bid").text == "Foobid bidFoo Foo 每日两次"


def test_match_running_into_a_protected_term_is_cut_at_its_edge(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.x", "kind": "regex", "pattern": "x+", "replacement": "y"}, protected=["xxKEEP"])
    assert RuleEngine([pack]).clean("xxxxKEEP xx").text == "yxxKEEP y"


def test_text_that_is_all_protected_is_returned_unchanged(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.ws", "kind": "collapse_whitespace"}, protected=["  PO  Box  "])
    result = RuleEngine([pack]).clean("  PO  Box  ")
    assert result.text == "  PO  Box  "
    assert result.rule_hits == {}
