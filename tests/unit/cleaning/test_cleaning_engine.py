"""The engine: pack order and version, immutable hot reload, rule hits, and idempotence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.cleaning import RuleEngine, RulePack, RulePackError, load_bundled_packs

MakePack = Callable[..., RulePack]


def test_bundled_packs_load_base_then_medical() -> None:
    packs = load_bundled_packs()
    assert [(pack.name, pack.priority) for pack in packs] == [("base", 10), ("medical", 50)]
    assert packs[0].rules[0].id == "base.strip_control"


def test_version_names_every_pack_in_application_order(bundled: RuleEngine) -> None:
    assert bundled.version == "base@1.0.0+medical@1.0.0"
    assert [pack.name for pack in bundled.packs] == ["base", "medical"]


def test_packs_are_applied_by_priority_whatever_order_they_are_given_in() -> None:
    base, medical = load_bundled_packs()
    engine = RuleEngine([medical, base])
    assert engine.version == "base@1.0.0+medical@1.0.0"
    # Base runs first: the full-width text is normalised before the medical rules read it.
    assert engine.clean("５ＭＧ ＢＩＤ").text == "5 mg 每日两次"


def test_with_pack_replaces_by_name_and_leaves_the_original_untouched(bundled: RuleEngine, make_pack: MakePack) -> None:
    medical_v2 = make_pack(
        {"id": "medical.frequency", "kind": "abbreviation", "terms": {"bid": "一天两次"}},
        name="medical",
        version="2.0.0",
        priority=50,
    )
    reloaded = bundled.with_pack(medical_v2)
    assert reloaded.version == "base@1.0.0+medical@2.0.0"
    assert reloaded.clean("bid 5MG").text == "一天两次 5MG"
    assert bundled.version == "base@1.0.0+medical@1.0.0"
    assert bundled.clean("bid 5MG").text == "每日两次 5 mg"


def test_with_pack_adds_a_new_pack_in_priority_order(bundled: RuleEngine, make_pack: MakePack) -> None:
    early = make_pack(
        {"id": "early.t", "kind": "regex", "pattern": "ＢＩＤ", "replacement": "BD"}, name="early", priority=5
    )
    late = make_pack(
        {"id": "late.t", "kind": "regex", "pattern": "每日两次", "replacement": "bid(已展开)"}, name="late"
    )
    engine = bundled.with_pack(late).with_pack(early)
    assert engine.version == "early@1.0.0+base@1.0.0+medical@1.0.0+late@1.0.0"
    # early runs before NFKC, so ＢＩＤ becomes BD and is not expanded; late rewrites medical's output.
    assert engine.clean("ＢＩＤ bid").text == "BD bid(已展开)"


def test_equal_priorities_are_ordered_by_name_regardless_of_history(make_pack: MakePack) -> None:
    alpha, beta = make_pack(name="alpha"), make_pack(name="beta")
    base = RuleEngine(load_bundled_packs())
    assert base.with_pack(beta).with_pack(alpha).version == base.with_pack(alpha).with_pack(beta).version


def test_without_pack_removes_it_and_leaves_the_original_untouched(bundled: RuleEngine) -> None:
    base_only = bundled.without_pack("medical")
    assert base_only.version == "base@1.0.0"
    assert base_only.clean("  bid 5MG ").text == "bid 5MG"
    assert bundled.clean("  bid 5MG ").text == "每日两次 5 mg"


def test_without_pack_also_drops_its_protected_terms(bundled: RuleEngine, make_pack: MakePack) -> None:
    guard = make_pack(name="guard", protected=["bid 5MG"])
    guarded = bundled.with_pack(guard)
    assert guarded.clean("bid 5MG").text == "bid 5MG"
    assert guarded.without_pack("guard").clean("bid 5MG").text == "每日两次 5 mg"


def test_without_a_pack_that_is_not_loaded_changes_nothing(bundled: RuleEngine) -> None:
    # Replaying a compacted topic delivers tombstones for packs this worker never loaded.
    assert bundled.without_pack("surgery") is bundled
    assert bundled.version == "base@1.0.0+medical@1.0.0"


def test_base_cannot_be_removed_from_an_engine_that_has_it(bundled: RuleEngine) -> None:
    with pytest.raises(RulePackError, match="rule pack 'base': cannot be removed") as caught:
        bundled.without_pack("base")
    assert caught.value.pack == "base"
    # An engine built without base (a test, a tool) has nothing to protect.
    medical_only = RuleEngine(load_bundled_packs()[1:])
    assert medical_only.without_pack("base") is medical_only


def test_a_pack_called_base_must_keep_the_bundled_base_rules_even_where_none_is_loaded(make_pack: MakePack) -> None:
    impostor = make_pack({"id": "base.strip_control", "kind": "collapse_whitespace"}, name="base", priority=10)
    with pytest.raises(RulePackError, match=r"missing or changed: \['base.strip_control'"):
        RuleEngine([]).with_pack(impostor)
    reordered = make_pack(*(rule.to_mapping() for rule in reversed(load_bundled_packs()[0].rules)), name="base")
    with pytest.raises(RulePackError, match="in their order"):
        RuleEngine([]).with_pack(RulePack.from_mapping({**reordered.to_mapping(), "priority": 10}))


def test_rule_id_clash_between_packs_is_rejected(bundled: RuleEngine, make_pack: MakePack) -> None:
    clash = make_pack({"id": "medical.frequency", "kind": "strip_control"}, name="other")
    with pytest.raises(RulePackError) as caught:
        bundled.with_pack(clash)
    assert (caught.value.pack, caught.value.rule) == ("other", "medical.frequency")
    assert "also used by pack 'medical'" in caught.value.reason


def test_same_pack_name_twice_is_rejected() -> None:
    base = load_bundled_packs()[0]
    with pytest.raises(RulePackError, match="loaded twice"):
        RuleEngine([base, base])


def test_empty_engine_returns_text_unchanged() -> None:
    engine = RuleEngine([])
    assert engine.version == ""
    assert engine.clean(" x ").text == " x "


def test_rule_hits_count_each_rewrite(bundled: RuleEngine) -> None:
    result = bundled.clean("bid, BID,  tid 5MG 5毫克 <i>x</i>")
    assert result.text == "每日两次, 每日两次, 每日三次 5 mg 5 mg x"
    assert result.rule_hits == {
        "base.strip_markup": 2,
        "base.collapse_whitespace": 1,
        "medical.frequency": 3,
        "medical.unit_mg": 2,
    }


@pytest.mark.parametrize(
    "text",
    [
        "  <p>阿莫西林500MG口服tid&nbsp;</p>\r\n<br>ＩＶ期，iv drip，q8h  ",
        "&lt;b&gt;5毫克bid&lt;/b&gt;，PO Box 12 po，BID-Pro 2000mg",
        "e&#769; ＆ａｍｐ； &amp;amp;lt;i&amp;amp;gt; x\u200b\x00y",
        "mg<b>\u0301 &#xFF1C;b&#xFF1E;x",  # a removed tag lets a combining mark reach "g"
        " 5毫克\u0301 和 bid\u0301 ",  # a combining mark after a unit or term keeps it as it is
    ],
)
def test_cleaning_cleaned_text_changes_nothing(bundled: RuleEngine, text: str) -> None:
    once = bundled.clean(text)
    twice = bundled.clean(once.text)
    assert once.rule_hits  # the input really needed cleaning
    assert twice.text == once.text
    assert twice.rule_hits == {}


# Pieces that exercise the interactions between rules: controls hiding markup, full-width text that
# becomes markup or an entity after NFKC, entities that decode to controls or combining marks,
# abbreviations and units glued to each other, protected terms.
_FRAGMENTS = st.sampled_from(
    [
        *("bid", "BID", "tid", "qd", "po", "iv", "IV", "ac", "hs", "prn", "q8h", "x", "B", "stage", "期"),
        *("5", "0.5", "1,000", ",", ".", "-", "_", "@", "mg", "MG", "毫克", "ml", "g", "克", "μg", "µg"),
        *(" ", "  ", "\t", "\n", "\r\n", "\r", "\x00", "\u200b", "\xad", "\u3000", "\xa0", "微克"),
        *("<", ">", "</", "<b>", "</p>", "<br/>", "<sup>", "<!--", "-->", "<![CDATA[", "]]>", "'", '"'),
        *("&", "&amp;", "&lt;", "&gt;", "&nbsp;", "&shy;", "&#12;", "&#xFF1C;", "&micro;", "&#769;", ";"),
        *(
            "方案",
            "口服",
            "阿莫西林",
            "，",
            "！",
            "…",
            "＜",
            "＞",
            "＆",
            "ａｍｐ",
            "１",
            "ｍｇ",
            "㎎",
            "Ⅳ",
            "⁹",
        ),
        *("PO Box", "BID-Pro 2000", "PO", "Box", "e\u0301", "\u0301", "ﬁ", "½", "#", "="),
    ]
)
_TEXTS = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=3)), max_size=20).map("".join)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXTS)
def test_bundled_engine_is_idempotent_on_adversarial_mixtures(text: str) -> None:
    engine = _BUNDLED
    once = engine.clean(text)
    twice = engine.clean(once.text)
    assert twice.text == once.text
    assert twice.rule_hits == {}


_BUNDLED = RuleEngine(load_bundled_packs())
