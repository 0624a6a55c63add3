"""Pack regexes run on RE2: Python's meaning kept where RE2 can express it, everything else refused by rule id."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest

from models.cleaning import RuleEngine, RulePack, RulePackError
from models.dialog import PolicyEngine, PolicyError, PolicyPack, load_default_policy
from models.packs.linear_regex import PatternRefusedError, compile_linear, parse_replacement

REDOS = r"(\w+\s?)+$"
REDOS_LINE = "aaaaaaaaaa bbbbbbbbbb cccccccccc dddddd!"  # 40 characters: hours for a backtracking engine


def cleaning_pack(**rule: Any) -> RulePack:
    return RulePack.from_mapping(
        {"name": "untrusted", "version": "1.0.0", "rules": [{"id": "u.rule", "kind": "regex", **rule}]}
    )


def policy_pack(pattern: str) -> PolicyPack:
    rule = {"id": "p.rule", "when": {"pattern": pattern}, "action": "reject", "reason": "r"}
    return PolicyPack.from_mapping({"name": "untrusted", "version": "1.0.0", "rules": [rule]})


def test_a_catastrophic_backtracking_pattern_is_harmless_in_a_cleaning_pack() -> None:
    assert len(REDOS_LINE) == 40
    engine = RuleEngine([cleaning_pack(pattern=REDOS, replacement="<line>")])
    assert engine.clean(REDOS_LINE).text == REDOS_LINE  # no match: the line ends in '!'
    assert engine.clean(REDOS_LINE[:-1]).text == "<line>"


def test_a_catastrophic_backtracking_pattern_is_harmless_in_a_policy_pack() -> None:
    engine = PolicyEngine([policy_pack(REDOS)])
    assert engine.decide(REDOS_LINE, tenant="t").action == "allow"
    assert engine.decide("x" * 100_000 + "!", tenant="t").action == "allow"
    assert engine.decide(REDOS_LINE[:-1], tenant="t").action == "reject"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "back-references are not supported"),
        (r"(?P<x>a)(?P=x)", "back-references are not supported"),
        (r"(?<=\d)mg", "look-ahead and look-behind are not supported"),
        (r"(?<!\d)mg", "look-ahead and look-behind are not supported"),
        (r"mg(?=\d)", "look-ahead and look-behind are not supported"),
        (r"mg(?!\d)", "look-ahead and look-behind are not supported"),
        (r"(?>a+)b", "atomic groups and possessive repeats are not supported"),
        (r"a++b", "atomic groups and possessive repeats are not supported"),
        (r"\C", "any single byte"),
        (r"[\W_]", "write a negated set"),
        (r"a{1001}", "invalid repetition size"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_the_rule(pattern: str, reason: str) -> None:
    with pytest.raises(RulePackError, match=re.escape(reason)) as caught:
        cleaning_pack(pattern=pattern, replacement="x")
    assert (caught.value.pack, caught.value.rule) == ("untrusted", "u.rule")
    assert "RE2" in str(caught.value) or "\\C" in str(caught.value) or "[^...]" in str(caught.value)
    with pytest.raises(PolicyError, match=re.escape(reason)) as refused:
        policy_pack(pattern)
    assert refused.value.rule == "p.rule"


def test_a_negated_class_inside_a_set_is_fine_with_the_ascii_flag() -> None:
    pattern = compile_linear(r"[\W_]+", ["ASCII"])
    assert [m.group() for m in pattern.finditer("a-_b 中")] == ["-_", " 中"]


def test_the_bundled_packs_and_default_policy_still_load() -> None:
    from models.cleaning import load_bundled_packs

    assert [pack.name for pack in load_bundled_packs()] == ["base", "medical"]
    assert load_default_policy().name == "default"


# --- the same matches as Python's re ---------------------------------------------------------------------------

MIXED = "张伟 ID 42, ５ apples and ٣ dates;\u00a0nbsp\u3000ideo\tTab_x\nnext line ÉCOLE straße café\n"


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        (r"\d+", []),
        (r"\w+", []),
        (r"\s+", []),
        (r"\D+", []),
        (r"\W+", []),
        (r"\S+", []),
        (r"[\w-]+", []),
        (r"[^\d\s]+", []),
        (r"\d+", ["ASCII"]),
        (r"\w+", ["ASCII"]),
        (r"\s+", ["ASCII"]),
        (r"école|STRASSE|Café", ["IGNORECASE"]),
        (r"^\w+", ["MULTILINE"]),
        (r"line.ÉCOLE", ["DOTALL"]),
        (r"line.ÉCOLE", []),
        (r"(?i)école", []),
        (r"(?x) \d + # digits\n | [ ] ideo  # a literal space, then ideo", []),
        ("  [a-z] +  # letters\n  \\#?", ["VERBOSE"]),
        (r"\u4f1f|\U0001F600|\N{NO-BREAK SPACE}", []),
        (r"a{,2}p", []),
        (r"(?#a comment)ideo", []),
        (r"line\Z|\n\Z", []),
        (r"[]a-c]+", []),
        (r"[^]a-z]+", []),
        (r"\bID\b", []),
        (r"(?P<word>\w+)@?", []),
    ],
)
def test_matches_are_the_ones_python_re_finds(pattern: str, flags: list[str]) -> None:
    combined = re.NOFLAG
    for flag in flags:
        combined |= getattr(re, flag)
    expected = [m.span() for m in re.finditer(pattern, MIXED, combined)]
    assert [m.span() for m in compile_linear(pattern, flags).finditer(MIXED)] == expected


@pytest.mark.parametrize(("escape", "python"), [(r"\w", r"\w"), (r"\d", r"\d"), (r"\s", r"\s")])
def test_unicode_classes_agree_with_python_on_every_assigned_code_point(escape: str, python: str) -> None:
    # Surrogates cannot be encoded as UTF-8; unassigned code points may be assigned in RE2's newer tables.
    chars = "".join(
        chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"
    )
    ours = "".join(m.group() for m in compile_linear(escape + "+").finditer(chars))
    assert ours == "".join(re.findall(python + "+", chars))


def test_empty_matches_are_found_once_each_as_in_python() -> None:
    for pattern, text in [(r"\b", "ab cd"), (r"x*", "axxb"), (r"$", "ab")]:
        assert [m.span() for m in compile_linear(pattern).finditer(text)] == [
            m.span() for m in re.finditer(pattern, text)
        ]


# --- replacement templates as Python's re.sub reads them -------------------------------------------------------

TEMPLATE_PATTERN = r"(?P<y>\d{4})-(\d{2})(x)?"


@pytest.mark.parametrize(
    "template",
    [
        r"\g<y>/\2",
        r"\2.\1",
        r"\g<0>",
        r"[\3]",
        r"\g<3>",
        r"tab\there\nnewline",
        r"back\\slash",
        r"dot\.kept",
        r"\0\012\101",
        "中\\1文",
        "plain 替换",
    ],
)
def test_replacements_expand_as_in_python(template: str) -> None:
    text = "on 2024-03 and 1999-12x, 中文"
    pattern = compile_linear(TEMPLATE_PATTERN)
    replacement = parse_replacement(template, pattern.groups, pattern.groupindex)
    assert pattern.sub(replacement.expand, text) == re.sub(TEMPLATE_PATTERN, template, text)


@pytest.mark.parametrize("template", [r"\4", r"\g<z>", r"\q", "trailing\\", r"\g<1a>", r"\g<y", r"\g"])
def test_bad_replacements_are_refused_like_python(template: str) -> None:
    with pytest.raises((re.error, IndexError)):
        re.sub(TEMPLATE_PATTERN, template, "2024-03")
    pattern = compile_linear(TEMPLATE_PATTERN)
    with pytest.raises(ValueError):
        parse_replacement(template, pattern.groups, pattern.groupindex)


def test_a_bad_replacement_fails_when_the_pack_loads() -> None:
    with pytest.raises(RulePackError, match=r"rule 'u.rule': bad replacement '\\\\g<nope>'"):
        cleaning_pack(pattern="(a)", replacement=r"\g<nope>")


def test_unknown_flags_and_lone_backslashes_are_refused() -> None:
    with pytest.raises(PatternRefusedError, match="unknown regex flag"):
        compile_linear("a", ["UNICODE_MAGIC"])
    with pytest.raises(PatternRefusedError, match="lone backslash"):
        compile_linear("a\\")
