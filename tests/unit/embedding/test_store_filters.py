"""Filter building for Milvus: tenants are validated, other values escaped, nothing can widen a filter."""

from __future__ import annotations

import pytest

from models.store import InvalidStoreValueError, chunk_key, quote_string, split_subjects, tenant_filter
from models.store.filters import mentions_filter
from models.store.types import MAX_MENTIONS
from schemas.errors import PoisonRecordError

HOSTILE_TENANTS = [
    'a" or tenant != "',
    "a' or tenant != '",
    'a" || tenant != "',
    "a\\",
    "acme\nor true",
    "",
    " acme",
    "acme corp",
    "tenant == 1",
    "x" * 65,
    "租户",
    "acme\n",
    # Once allowed by the store alone; the one tenant rule (schemas.records) never let a record carry them.
    "eu.acme:prod",
    "ops@acme",
]


@pytest.mark.parametrize("tenant", HOSTILE_TENANTS)
def test_tenants_that_need_escaping_are_rejected(tenant: str) -> None:
    with pytest.raises(InvalidStoreValueError):
        tenant_filter(tenant)


@pytest.mark.parametrize("tenant", ["acme", "acme-corp", "org_42", "eu.acme.prod", "x" * 64, "7"])
def test_plain_tenants_give_an_equality_filter(tenant: str) -> None:
    assert tenant_filter(tenant) == f'tenant == "{tenant}"'


def test_the_store_and_the_wire_contract_share_one_tenant_rule() -> None:
    from schemas.records import TENANT_PATTERN, is_valid_tenant

    for tenant in [*HOSTILE_TENANTS, "acme", "x" * 64]:
        rejected = not is_valid_tenant(tenant)
        try:
            tenant_filter(tenant)
            store_rejects = False
        except InvalidStoreValueError:
            store_rejects = True
        assert store_rejects == rejected, tenant
    assert TENANT_PATTERN.endswith("{0,63}$")


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote_string('a" or tenant != "') == '"a\\" or tenant != \\""'
    assert quote_string("back\\slash") == '"back\\\\slash"'
    assert quote_string("it's") == '"it\'s"'


def test_quoted_value_is_one_literal() -> None:
    # Reading the literal back the way Milvus's lexer does must give the original value and end exactly
    # at the closing quote: nothing after it can become an operator.
    value = 'x\\" or 1 == 1 or "\\'
    literal = quote_string(value)
    out, i = [], 1
    while literal[i] != '"':
        if literal[i] == "\\":
            out.append(literal[i + 1])
            i += 2
        else:
            out.append(literal[i])
            i += 1
    assert "".join(out) == value
    assert i == len(literal) - 1


@pytest.mark.parametrize("value", ["line\nbreak", "tab\there", "nul\x00", "del\x7f"])
def test_control_characters_are_rejected(value: str) -> None:
    with pytest.raises(InvalidStoreValueError):
        quote_string(value)


def test_invalid_values_are_poison_records_and_value_errors() -> None:
    with pytest.raises(PoisonRecordError):
        tenant_filter('a" or "')
    with pytest.raises(ValueError):
        tenant_filter('a" or "')


def test_chunk_key_is_deterministic_and_tenant_scoped() -> None:
    assert chunk_key("acme", "r1", 0) == chunk_key("acme", "r1", 0)
    assert chunk_key("acme", "r1", 0) != chunk_key("globex", "r1", 0)
    assert chunk_key("acme", "r1", 0) != chunk_key("acme", "r1", 1)
    # Field boundaries are unambiguous: ("a", "b1") and ("a,b", "1") are different keys.
    assert chunk_key("a", "b1", 0) != chunk_key("a,b", "1", 0)


def test_subjects_split_on_whitespace_without_duplicates() -> None:
    assert split_subjects("") == []
    assert split_subjects(" p1  p2 p1\tp3 ") == ["p1", "p2", "p3"]


PERSON = "<PERSON_3c976b0a75e2d418>"
MOBILE = "<CN_MOBILE_49e582b863>"  # the old 10-digit form is still a pseudonym


def test_mentions_filter_matches_the_text_for_each_pseudonym_once() -> None:
    assert mentions_filter([PERSON, MOBILE, PERSON]) == (f'(text like "%{PERSON}%" or text like "%{MOBILE}%")')


@pytest.mark.parametrize(
    "value",
    [
        f'{PERSON}" or tenant != "',
        f"{PERSON}%",
        "%",
        "<PERSON_%>",
        "<PERSON_3C976B0A75>",  # the digest is lower-case hex
        "<PERSON_3c976b0a7>",
        "<PERSON_3c976b0a75e2d41>",  # 10 or 16 digits, nothing between
        "<PERSON_3c976b0a75e2d4180>",
        "PERSON_3c976b0a75",
        f" {PERSON}",
        f"{PERSON}\n",
        "<person_3c976b0a75>",
        "<" + "A" * 200 + "_3c976b0a75>",
        "",
    ],
)
def test_only_pseudonyms_may_enter_a_mentions_filter(value: str) -> None:
    with pytest.raises(InvalidStoreValueError):
        mentions_filter([value])


def test_a_mentions_filter_needs_a_bounded_list_of_pseudonyms() -> None:
    with pytest.raises(InvalidStoreValueError):
        mentions_filter([])
    with pytest.raises(InvalidStoreValueError):
        mentions_filter(PERSON)  # a bare string is not a list of pseudonyms
    many = [f"<PERSON_{i:010x}>" for i in range(MAX_MENTIONS + 1)]
    assert mentions_filter(many[:MAX_MENTIONS]).count(" like ") == MAX_MENTIONS
    with pytest.raises(InvalidStoreValueError):
        mentions_filter(many)
