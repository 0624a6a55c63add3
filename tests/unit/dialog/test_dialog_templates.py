"""Prompt templates: bundled ones render with citations; a typo or unsafe template fails at load."""

from __future__ import annotations

from typing import Any

import pytest

from models.dialog import PromptTemplate, PromptTemplateError, RetrievedRecord, cited_record_ids, load_templates
from schemas.errors import ConfigurationError

RECORDS = [
    RetrievedRecord("crm-0042", "Refunds are processed within 7 days.", 0.91),
    RetrievedRecord("erp-0007", "订单 {{ tenant }} 已发货。", 0.55),
]


def template_data(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "clinic-chat",
        "version": "2.0.0",
        "task": "chat",
        "system": "Assistant for {{ tenant }}.\n{{ context }}",
        "context_item": "{{ number }}. ({{ record_id }}) {{ text }}",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def test_bundled_templates_are_loaded_by_name_with_versions() -> None:
    templates = load_templates()
    assert set(templates) == {"chat-default", "complete-default"}
    assert templates["chat-default"].version == "1.0.0"
    assert templates["chat-default"].task == "chat"
    assert templates["complete-default"].task == "complete"
    assert templates["chat-default"].label == "chat-default@1.0.0"


def test_chat_default_numbers_records_and_shows_their_ids_for_citation() -> None:
    prompt = load_templates()["chat-default"].render("acme", RECORDS)
    assert "acme" in prompt
    assert "1. [crm-0042] Refunds are processed within 7 days." in prompt
    assert "2. [erp-0007]" in prompt
    assert "cite" in prompt.lower()
    # Record text is data, not template source: braces in it are shown as they are.
    assert "订单 {{ tenant }} 已发货。" in prompt


def test_chat_default_without_records_says_nothing_was_found() -> None:
    prompt = load_templates()["chat-default"].render("acme", [])
    assert "acme" in prompt
    assert "[" not in prompt
    assert "no records were found" in prompt.lower()


def test_complete_default_has_no_system_prompt() -> None:
    assert load_templates()["complete-default"].render("acme", RECORDS) == ""


def test_round_trip_through_mapping_and_yaml() -> None:
    import yaml

    for template in load_templates().values():
        assert PromptTemplate.from_mapping(template.to_mapping()) == template
        assert PromptTemplate.from_yaml(yaml.safe_dump(template.to_mapping(), allow_unicode=True)) == template


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"system": "Assistant for {{ tenat }}."}, "unknown variable(s) ['tenat'] (did you mean 'tenant'?)"),
        ({"context_item": "{{ number }} {{ record.id }}"}, "unknown variable(s) ['record']"),
        ({"context_item": "{{ text.nope }}"}, "fails on sample values"),
        ({"system": "{% if tenant %}unclosed"}, "system:"),
        ({"system": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, "fails on sample values"),
        ({"version": "1.0"}, "version must be"),
        ({"version": 1.0}, "version must be"),
        ({"task": "chatt"}, "did you mean 'chat'?"),
        ({"system": None, "context_item": None}, "a chat template needs a system prompt"),
        ({"context_item": None}, "needs context_item"),
        ({"task": "complete", "system": None}, "context_item without a system prompt"),
        ({"sytem": "x"}, "unknown field 'sytem' (did you mean 'system'?)"),
        ({"version": None}, "missing required field(s) ['version']"),
    ],
)
def test_bad_template_fails_at_load_naming_template_and_fault(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(PromptTemplateError) as caught:
        PromptTemplate.from_mapping(template_data(**fields))
    assert caught.value.template == "clinic-chat"
    assert reason in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(("field", "value"), [("name", "clinic-chat\n"), ("version", "2.0.0\n")])
def test_a_trailing_newline_makes_a_name_or_version_invalid(field: str, value: str) -> None:
    with pytest.raises(PromptTemplateError, match=f"{field} must be"):
        PromptTemplate.from_mapping(template_data(**{field: value}))


def test_bad_name_and_bad_yaml_are_template_errors() -> None:
    with pytest.raises(PromptTemplateError, match="name must be"):
        PromptTemplate.from_mapping(template_data(name="Chat Default"))
    with pytest.raises(PromptTemplateError, match="invalid YAML"):
        PromptTemplate.from_yaml("name: [unclosed")
    with pytest.raises(PromptTemplateError, match="must be a mapping"):
        PromptTemplate.from_yaml("- a list")


def test_a_custom_template_renders_its_own_item_format() -> None:
    template = PromptTemplate.from_mapping(template_data())
    assert (
        template.render("clinic", RECORDS[:1])
        == "Assistant for clinic.\n1. (crm-0042) Refunds are processed within 7 days."
    )


def test_template_that_raises_on_sample_values_fails_at_load() -> None:
    with pytest.raises(PromptTemplateError, match="fails on sample values: TypeError"):
        PromptTemplate.from_mapping(template_data(system="{{ tenant + 1 }} {{ context }}"))


def test_citations_are_retrieved_ids_in_order_of_first_citation() -> None:
    answer = "Shipped [erp-0007]. Refunds take 7 days [crm-0042], see also [erp-0007] and [made-up-1]."
    assert cited_record_ids(answer, RECORDS) == ["erp-0007", "crm-0042"]
    assert cited_record_ids("no citations, just erp-0007", RECORDS) == []


BILLING = RetrievedRecord(
    "log-0003", "billing-api: payment card declined for <PERSON_3c97a1b2c3d4e5f6>, retry in 24 h", 0.6
)
NOTE = RetrievedRecord("crm-0051", "Customer <PERSON_3c97a1b2c3d4e5f6> asked about the delivery date.", 0.8)
ZH = RetrievedRecord("crm-0060", "客户投诉物流太慢，要求加急发货", 0.7)


def test_a_citation_points_at_the_record_whose_text_the_answer_quotes() -> None:
    # The model cites the CRM note while quoting the billing log: the log is what the answer rests on.
    answer = "The payment card declined for <PERSON_3c97a1b2c3d4e5f6>, retry in 24 h [crm-0051]."
    assert cited_record_ids(answer, [NOTE, BILLING]) == ["log-0003"]
    # Quoting one and citing the same one; a quote without any citation counts too.
    assert cited_record_ids(f"{answer} [log-0003]", [NOTE, BILLING]) == ["log-0003"]
    assert cited_record_ids("客户投诉物流太慢，我们会加急。", [NOTE, ZH]) == ["crm-0060"]


def test_sharing_only_a_pseudonym_or_a_few_words_is_not_a_quote() -> None:
    # Both records name the same person; the answer names them too, but quotes neither.
    answer = "I found <PERSON_3c97a1b2c3d4e5f6> in the records [crm-0051]; the delivery date is open."
    assert cited_record_ids(answer, [NOTE, BILLING]) == ["crm-0051"]
