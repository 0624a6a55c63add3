"""A pack's protected identifiers: validated like regex rules, compiled on RE2, exposed by the engine in pack order."""

from __future__ import annotations

from typing import Any

import pytest

from models.cleaning import ProtectedIdentifier, RuleEngine, RulePack, RulePackError, load_bundled_packs


def pack(*identifiers: Any, name: str = "acme", **extra: Any) -> RulePack:
    data: dict[str, Any] = {"name": name, "version": "1.0.0", "rules": [], "protected_identifiers": list(identifiers)}
    return RulePack.from_mapping({**data, **extra})


def test_patterns_load_compile_on_re2_and_find_their_tokens() -> None:
    loaded = pack({"id": "acme.case", "pattern": "CASE-[0-9]{6}", "description": "support cases"})
    engine = RuleEngine([*load_bundled_packs(), loaded])
    (pattern,) = engine.protected_identifiers
    assert type(pattern).__name__ == "_Re2Pattern"
    text = "工单CASE-123456已关闭"
    assert [text[m.start() : m.end()] for m in pattern.finditer(text)] == ["CASE-123456"]


def test_flags_are_honoured() -> None:
    loaded = pack({"id": "a.c", "pattern": "case-[0-9]{6}", "flags": ["IGNORECASE"]})
    (pattern,) = RuleEngine([loaded]).protected_identifiers
    assert pattern.search("CASE-123456") is not None


def test_the_field_round_trips_through_yaml() -> None:
    loaded = pack({"id": "acme.case", "pattern": "CASE-[0-9]{6}", "flags": ["ASCII"]})
    assert RulePack.from_yaml(loaded.to_yaml()) == loaded
    assert loaded.protected_identifiers == (ProtectedIdentifier("acme.case", "CASE-[0-9]{6}", ("ASCII",)),)


def test_a_pack_without_the_field_publishes_as_before() -> None:
    bundled = load_bundled_packs()
    assert all("protected_identifiers" not in p.to_mapping() for p in bundled)
    assert RuleEngine(bundled).protected_identifiers == ()


@pytest.mark.parametrize(
    ("identifiers", "message"),
    [
        ("CASE-[0-9]+", "protected_identifiers must be a list"),
        (["CASE-[0-9]+"], "must be a mapping"),
        ([{"pattern": "CASE-[0-9]+"}], "missing required field"),
        ([{"id": "a.c"}], "missing required field"),
        ([{"id": "a.c", "pattern": "CASE-[0-9]+", "replacement": "x"}], "unknown field 'replacement'"),
        ([{"id": "a c", "pattern": "CASE"}], "id must be"),
        ([{"id": "a.c", "pattern": r"(CASE)-\1"}], "RE2"),  # a back-reference: not linear time
        ([{"id": "a.c", "pattern": "(?<=#)CASE"}], "RE2"),  # look-behind
        ([{"id": "a.c", "pattern": "x*"}], "matches the empty string"),
        ([{"id": "a.c", "pattern": "CASE", "flags": ["UNICODE"]}], "unknown regex flag"),
        ([{"id": "a.c", "pattern": "C" * 2001}], "limit is 2000"),
        ([{"id": "a.c", "pattern": "A1"}, {"id": "a.c", "pattern": "B2"}], "duplicate protected identifier id"),
    ],
)
def test_invalid_entries_are_refused_with_the_pack_named(identifiers: Any, message: str) -> None:
    with pytest.raises(RulePackError, match=message) as raised:
        RulePack.from_mapping({"name": "acme", "version": "1.0.0", "rules": [], "protected_identifiers": identifiers})
    assert raised.value.pack == "acme"


def test_engine_lists_the_patterns_of_every_pack_in_pack_order() -> None:
    first = pack({"id": "a.one", "pattern": "ONE-[0-9]+"}, name="alpha", priority=5)
    second = pack({"id": "b.two", "pattern": "TWO-[0-9]+"}, name="beta")
    engine = RuleEngine([second, first])
    assert [p.pattern for p in engine.protected_identifiers] == ["ONE-[0-9]+", "TWO-[0-9]+"]
    assert engine.without_pack("alpha").protected_identifiers[0].pattern == "TWO-[0-9]+"


def test_protected_identifiers_do_not_change_what_cleaning_does() -> None:
    engine = RuleEngine([*load_bundled_packs(), pack({"id": "a.c", "pattern": "CASE-[0-9]{6}"})])
    assert engine.clean("CASE-123456  5MG").text == "CASE-123456 5 mg"
