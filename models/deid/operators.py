"""What replaces each detected value: pseudonym, replace, mask, redact or keep, as Presidio operator configs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from presidio_anonymizer.entities import OperatorConfig

from models.deid.pseudonyms import pseudonym

# `keep` leaves a detected value as written (it is still counted): for types that are not personal data in
# context, such as country and city names in a business answer.
OPERATORS = ("pseudonym", "replace", "mask", "redact", "keep")
DEFAULT_OPERATOR = "pseudonym"
_KEPT_CHARS = 4


def mask_value(value: str) -> str:
    """All but the last four characters replaced by ``*`` (``************5678``).

    Values shorter than eight characters are masked entirely: keeping four characters of a short
    value (a name, a short e-mail) would reveal most of it.
    """
    if len(value) < 2 * _KEPT_CHARS:
        return "*" * len(value)
    return "*" * (len(value) - _KEPT_CHARS) + value[-_KEPT_CHARS:]


def replacement(operator: str, entity_type: str, key: bytes) -> Callable[[str], str]:
    """What ``operator`` turns a value of ``entity_type`` into: free text and declared fields both use this."""
    if operator == "pseudonym":
        return lambda value: pseudonym(value, entity_type, key)
    if operator == "replace":
        return lambda value: f"<{entity_type}>"
    if operator == "mask":
        return mask_value
    if operator == "redact":
        return lambda value: ""
    if operator == "keep":
        return lambda value: value
    raise ValueError(f"unknown de-identification operator {operator!r} for {entity_type}")


def validate_operators(operators: Mapping[str, str], entity_types: Iterable[str]) -> None:
    """Fail at start, naming the entry, when an operator or an entity type is unknown."""
    known_types = set(entity_types)
    for entity_type, operator in operators.items():
        if entity_type not in known_types:
            raise ValueError(
                f"de-identification operators: unknown entity type {entity_type!r}; "
                f"expected one of {sorted(known_types)}"
            )
        if operator not in OPERATORS:
            raise ValueError(
                f"de-identification operators: unknown operator {operator!r} for {entity_type}; "
                f"expected one of {list(OPERATORS)}"
            )


def operator_configs(
    operators: Mapping[str, str], entity_types: Iterable[str], key: bytes
) -> dict[str, OperatorConfig]:
    """One Presidio operator config per entity type; types without an entry are pseudonymised."""
    return {
        entity_type: OperatorConfig(
            "custom", {"lambda": replacement(operators.get(entity_type, DEFAULT_OPERATOR), entity_type, key)}
        )
        for entity_type in entity_types
    }
