"""Rule-pack validation: a bad pack is a RulePackError naming the pack, the rule and the fault."""

from __future__ import annotations

import contextlib
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.cleaning import RulePack, RulePackError, load_bundled_packs
from schemas.errors import PoisonRecordError


def pack_data(*rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "clinic", "version": "2.1.0", "description": "", "rules": list(rules), **fields}


@pytest.mark.parametrize(
    ("rule", "rule_label", "reason"),
    [
        ({"id": "c.bad", "kind": "regex", "pattern": "(unclosed", "replacement": "x"}, "c.bad", "bad regex"),
        ({"id": "c.bad", "kind": "regex", "pattern": "a", "replacement": r"\2"}, "c.bad", "bad replacement"),
        (
            {"id": "c.bad", "kind": "regex", "pattern": "a*", "replacement": "x"},
            "c.bad",
            "matches the empty string",
        ),
        (
            {"id": "c.bad", "kind": "regex", "pattern": "a", "replacement": "x", "flags": ["UNICODE_MAGIC"]},
            "c.bad",
            "unknown regex flag",
        ),
        ({"id": "c.bad", "kind": "regex", "pattern": "a" * 3000, "replacement": "x"}, "c.bad", "limit is"),
        (
            {"id": "c.bad", "kind": "regex", "pattern": "a"},
            "c.bad",
            "missing required field(s) ['replacement']",
        ),
        (
            {"id": "c.bad", "kind": "regexp", "pattern": "a", "replacement": "b"},
            "c.bad",
            "unknown kind 'regexp' (did you mean 'regex'?)",
        ),
        ({"id": "c.bad", "pattern": "a"}, "c.bad", "missing required field 'kind'"),
        ({"kind": "strip_control"}, "rules[0]", "missing required field 'id'"),
        ({"id": "has space", "kind": "strip_control"}, "rules[0]", "id must be"),
        (
            {"id": "c.bad", "kind": "regex", "patern": "a", "replacement": "b"},
            "c.bad",
            "unknown field 'patern' for kind 'regex' (did you mean 'pattern'?)",
        ),
        ({"id": "c.bad", "kind": "abbreviation", "terms": ["bid"]}, "c.bad", "terms must be a mapping"),
        ({"id": "c.bad", "kind": "abbreviation", "terms": {}}, "c.bad", "terms must be a non-empty mapping"),
        (
            {"id": "c.bad", "kind": "abbreviation", "terms": {"b id": "x"}},
            "c.bad",
            "term 'b id' must be ASCII",
        ),
        (
            {"id": "c.bad", "kind": "abbreviation", "terms": {"bid": ""}},
            "c.bad",
            "expansion of 'bid' must not be empty",
        ),
        (
            {"id": "c.bad", "kind": "abbreviation", "terms": {"bid": "x", "BID": "y"}},
            "c.bad",
            "duplicate term(s) ['BID']",
        ),
        (
            {"id": "c.bad", "kind": "abbreviation", "terms": {"bid": "x"}, "ignore_case": "yes"},
            "c.bad",
            "ignore_case must be true or false",
        ),
        (
            {"id": "c.bad", "kind": "unit", "canonical": "mg", "aliases": "mg"},
            "c.bad",
            "aliases must be a list of strings",
        ),
        ({"id": "c.bad", "kind": "unit", "canonical": "mg", "aliases": []}, "c.bad", "at least one"),
        (
            {"id": "c.bad", "kind": "unit", "canonical": "mg", "aliases": ["mg"], "separator": "-"},
            "c.bad",
            "separator must be whitespace",
        ),
        ({"id": "c.bad", "kind": "strip_markup", "keep_tags": True}, "c.bad", "unknown field 'keep_tags'"),
        ("strip_markup", "rules[0]", "must be a mapping, got str"),
    ],
)
def test_bad_rule_is_rejected_naming_pack_and_rule(rule: Any, rule_label: str, reason: str) -> None:
    with pytest.raises(RulePackError) as caught:
        RulePack.from_mapping(pack_data(rule))
    error = caught.value
    assert error.pack == "clinic"
    assert error.rule == rule_label
    assert reason in error.reason
    assert str(error).startswith(f"rule pack 'clinic': rule '{rule_label}': ")


def test_error_names_the_failing_rule_among_good_ones() -> None:
    good = {"id": "c.ok", "kind": "strip_control"}
    bad = {"id": "c.units", "kind": "unit", "canonical": "mg"}
    with pytest.raises(
        RulePackError, match=r"rule pack 'clinic': rule 'c\.units': missing required field\(s\) \['aliases'\]"
    ):
        RulePack.from_mapping(pack_data(good, bad))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"name": "clinic", "rules": []}, "missing required field(s) ['version']"),
        ({"name": "clinic", "version": "1.0.0"}, "missing required field(s) ['rules']"),
        ({"name": "clinic", "version": 1.0, "rules": []}, "version must be MAJOR.MINOR.PATCH"),
        ({"name": "clinic", "version": "1.0", "rules": []}, "version must be MAJOR.MINOR.PATCH"),
        ({"name": "clinic", "version": "1.0.0", "rules": {}}, "rules must be a list"),
        (
            {"name": "clinic", "version": "1.0.0", "rules": [], "priority": "high"},
            "priority must be an integer",
        ),
        (
            {"name": "clinic", "version": "1.0.0", "rules": [], "priority": True},
            "priority must be an integer",
        ),
        (
            {"name": "clinic", "version": "1.0.0", "rules": [], "protected_terms": "PO Box"},
            "protected_terms must be a list",
        ),
        (
            {"name": "clinic", "version": "1.0.0", "rules": [], "protected_terms": [""]},
            "protected_terms[0] must be",
        ),
        ({"name": "clinic", "version": "1.0.0", "rules": [], "protected_terms": ["a", "a"]}, "duplicates"),
        ({"name": "clinic", "version": "1.0.0", "rules": [], "author": "me"}, "unknown field 'author'"),
    ],
)
def test_bad_pack_fields_are_rejected_naming_the_pack(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(RulePackError) as caught:
        RulePack.from_mapping(data)
    assert caught.value.pack == "clinic"
    assert caught.value.rule is None
    assert reason in caught.value.reason


def test_pack_without_a_name_is_called_unnamed_in_the_error() -> None:
    with pytest.raises(RulePackError, match=r"rule pack '<unnamed>': missing required field\(s\) \['name'\]"):
        RulePack.from_mapping({"version": "1.0.0", "rules": []})


def test_bad_pack_name_is_rejected() -> None:
    with pytest.raises(RulePackError, match="name must be lower-case"):
        RulePack.from_mapping({"name": "Base+Extra", "version": "1.0.0", "rules": []})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"name": "clinic\n", "version": "1.0.0", "rules": []}, "name must be"),
        ({"name": "clinic", "version": "1.0.0\n", "rules": []}, "version must be"),
        ({"name": "clinic", "version": "1.0.0", "rules": [{"id": "c.ws\n", "kind": "strip_control"}]}, "id must be"),
    ],
)
def test_a_trailing_newline_makes_a_name_version_or_rule_id_invalid(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(RulePackError, match=reason):
        RulePack.from_mapping(data)


def test_duplicate_rule_ids_in_one_pack_are_rejected() -> None:
    rule = {"id": "c.same", "kind": "strip_control"}
    with pytest.raises(RulePackError) as caught:
        RulePack.from_mapping(pack_data(rule, rule))
    assert (caught.value.pack, caught.value.rule) == ("clinic", "c.same")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: [unclosed", "invalid YAML"),
        ("- just\n- a list\n", "a rule pack must be a mapping, got list"),
        ("", "a rule pack must be a mapping, got NoneType"),
        ("[" * 1000, "invalid YAML"),
    ],
)
def test_unparseable_yaml_is_a_rule_pack_error(text: str, reason: str) -> None:
    with pytest.raises(RulePackError, match=reason):
        RulePack.from_yaml(text)


def test_yaml_pack_is_parsed_with_defaults() -> None:
    pack = RulePack.from_yaml("name: clinic\nversion: '1.2.3'\nrules:\n  - id: c.ws\n    kind: collapse_whitespace\n")
    assert (pack.name, pack.version, pack.description, pack.priority) == ("clinic", "1.2.3", "", 100)
    assert pack.protected_terms == ()
    assert [rule.id for rule in pack.rules] == ["c.ws"]


def test_rule_pack_error_is_a_value_error_and_a_poison_record() -> None:
    error = RulePackError("bad", pack="p", rule="r")
    assert isinstance(error, ValueError)
    assert isinstance(error, PoisonRecordError)
    assert error.stage == "cleaning.rule_pack"
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.pack, copy.rule) == ("rule pack 'p': rule 'r': bad", "p", "r")


@pytest.mark.parametrize("pack", load_bundled_packs(), ids=lambda pack: pack.name)
def test_to_mapping_round_trips_through_from_mapping_and_yaml(pack: RulePack) -> None:
    assert RulePack.from_mapping(pack.to_mapping()) == pack
    assert RulePack.from_yaml(pack.to_yaml()) == pack


def test_to_mapping_round_trips_every_rule_kind_with_non_defaults() -> None:
    data = pack_data(
        {
            "id": "c.re",
            "kind": "regex",
            "pattern": "a(b)",
            "replacement": r"\1",
            "flags": ["IGNORECASE"],
            "description": "d",
        },
        {
            "id": "c.ab",
            "kind": "abbreviation",
            "terms": {"IM": "肌注"},
            "ignore_case": False,
            "unless_followed_by": ["期"],
            "unless_preceded_by": ["stage"],
        },
        {
            "id": "c.u",
            "kind": "unit",
            "canonical": "L",
            "aliases": ["L", "升"],
            "ignore_case": False,
            "separator": "",
        },
        {"id": "c.nf", "kind": "unicode_nfkc"},
        priority=7,
        protected_terms=["X 1"],
    )
    pack = RulePack.from_mapping(data)
    mapping = pack.to_mapping()
    assert RulePack.from_mapping(mapping) == pack
    assert mapping["rules"][1]["terms"] == {"IM": "肌注"}
    assert mapping["priority"] == 7


_FIELD_NAMES = st.sampled_from(
    [
        *("name", "version", "description", "priority", "protected_terms", "rules", "id", "kind"),
        *("pattern", "replacement", "flags", "terms", "ignore_case", "canonical", "aliases", "separator"),
        *("unless_followed_by", "unless_preceded_by", "regex", "abbreviation", "unit", "strip_markup"),
    ]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), _FIELD_NAMES, st.text(max_size=8), st.just("1.0.0")
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_FIELD_NAMES | st.integers(), children, max_size=6)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.dictionaries(_FIELD_NAMES, _VALUES, max_size=7))
def test_arbitrary_mappings_only_ever_raise_rule_pack_error(data: dict[str, Any]) -> None:
    try:
        pack = RulePack.from_mapping(data)
    except RulePackError:
        return
    assert RulePack.from_mapping(pack.to_mapping()) == pack


@settings(max_examples=200, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from(list("abc:-[]{}'\"&*!|>\n #0.")), max_size=60))
def test_arbitrary_yaml_text_only_ever_raises_rule_pack_error(text: str) -> None:
    with contextlib.suppress(RulePackError):
        RulePack.from_yaml(text)
