"""Each rule kind on its own, declared in a small test pack: what it rewrites and how hits are counted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models.cleaning import AbbreviationRule, RegexRule, RuleEngine, RulePack, UnitRule

MakePack = Callable[..., RulePack]


def test_regex_rule_with_group_references_and_flags(make_pack: MakePack) -> None:
    pack = make_pack(
        {
            "id": "t.date",
            "kind": "regex",
            "pattern": r"(?P<y>\d{4})年(\d{1,2})月",
            "replacement": r"\g<y>-\2",
        },
        {
            "id": "t.shout",
            "kind": "regex",
            "pattern": "^note:",
            "replacement": "NOTE:",
            "flags": ["IGNORECASE", "MULTILINE"],
        },
    )
    result = RuleEngine([pack]).clean("2024年3月复诊\nNote: 2023年12月")
    assert result.text == "2024-3复诊\nNOTE: 2023-12"
    assert result.rule_hits == {"t.date": 2, "t.shout": 1}


def test_regex_rule_counts_only_matches_it_changed(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.cm", "kind": "regex", "pattern": "(?i)cm", "replacement": "cm"})
    result = RuleEngine([pack]).clean("5 CM and 6 cm")
    assert result.text == "5 cm and 6 cm"
    assert result.rule_hits == {"t.cm": 1}


def test_regex_rule_splits_with_groups_where_look_around_is_not_available(make_pack: MakePack) -> None:
    # Pack regexes run on RE2 (no look-around): the neighbours are captured and put back instead.
    pack = make_pack({"id": "t.gap", "kind": "regex", "pattern": r"([0-9])([a-z])", "replacement": r"\1 \2"})
    assert RuleEngine([pack]).clean("5mg 10ml").text == "5 mg 10 ml"


def test_regex_rule_can_insert_at_a_zero_width_match_once(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.edge", "kind": "regex", "pattern": r"\b", "replacement": "|"})
    result = RuleEngine([pack]).clean("ab cd")
    assert result.text == "|ab| |cd|"
    assert result.rule_hits == {"t.edge": 4}


def test_case_sensitive_abbreviation_only_matches_the_declared_case(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.abbr", "kind": "abbreviation", "terms": {"IM": "肌内注射"}, "ignore_case": False})
    assert RuleEngine([pack]).clean("IM, im, Im").text == "肌内注射, im, Im"


def test_abbreviation_terms_may_contain_dots_and_digits(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.abbr", "kind": "abbreviation", "terms": {"q.d.": "每日一次", "q4h": "每4小时一次"}})
    assert RuleEngine([pack]).clean("q.d. 或 Q4H，不是 q.d.x").text == "每日一次 或 每4小时一次，不是 q.d.x"


def test_abbreviation_longer_term_wins_over_its_prefix(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.abbr", "kind": "abbreviation", "terms": {"q": "每", "qd": "每日一次"}})
    assert RuleEngine([pack]).clean("qd q").text == "每日一次 每"


def test_abbreviation_context_exclusions(make_pack: MakePack) -> None:
    pack = make_pack(
        {
            "id": "t.abbr",
            "kind": "abbreviation",
            "terms": {"iv": "静脉注射"},
            "unless_followed_by": ["期"],
            "unless_preceded_by": ["stage"],
        }
    )
    engine = RuleEngine([pack])
    assert engine.clean("IV期 IV 期 stage IV STAGE iv iv drip").text == "IV期 IV 期 stage IV STAGE iv 静脉注射 drip"


def test_unit_rule_with_custom_separator(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.u", "kind": "unit", "canonical": "IU", "aliases": ["iu", "单位"], "separator": ""})
    assert RuleEngine([pack]).clean("胰岛素 8 单位，10iu").text == "胰岛素 8IU，10IU"


def test_case_sensitive_unit(make_pack: MakePack) -> None:
    pack = make_pack({"id": "t.u", "kind": "unit", "canonical": "L", "aliases": ["L", "升"], "ignore_case": False})
    assert RuleEngine([pack]).clean("2L 3升 4l").text == "2 L 3 L 4l"


@pytest.mark.parametrize(
    ("kind", "raw", "cleaned"),
    [
        ("strip_control", "a\x00 \x01b", "a b"),
        ("strip_markup", "<i>a</i>&amp;b", "a&b"),
        ("unicode_nfkc", "ＡＢ，Ｃ", "AB，C"),
        ("collapse_whitespace", "  a \t b  ", "a b"),
    ],
)
def test_builtin_rule_alone(make_pack: MakePack, kind: str, raw: str, cleaned: str) -> None:
    result = RuleEngine([make_pack({"id": f"t.{kind}", "kind": kind})]).clean(raw)
    assert result.text == cleaned
    assert set(result.rule_hits) == {f"t.{kind}"}


def test_rules_can_be_built_directly_and_validate_themselves() -> None:
    pack = RulePack(
        name="direct",
        version="0.1.0",
        description="",
        rules=(
            RegexRule(id="d.re", pattern="colour", replacement="color"),
            AbbreviationRule(id="d.ab", terms=(("bid", "每日两次"),)),
            UnitRule(id="d.u", canonical="mg", aliases=("mg",)),
        ),
        protected_terms=(),
    )
    assert RuleEngine([pack]).clean("colour bid 5MG").text == "color 每日两次 5 mg"
