"""The dialog layer of inference: history budgeting, prompt templates, policy rules and A/B routing."""

from __future__ import annotations

from models.dialog.citations import cited_record_ids
from models.dialog.errors import InvalidHistoryError, PolicyError, PromptTemplateError, PromptTooLongError
from models.dialog.history import (
    DEFAULT_MAX_TURNS,
    BudgetedPrompt,
    SessionHistory,
    TokenCounter,
    Turn,
    fit_to_budget,
    omitted_note,
)
from models.dialog.policy import Decision, PolicyEngine, PolicyPack, PolicyRule, load_default_policy
from models.dialog.routing import InvalidWeightsError, choose_variant, session_point, variant_label
from models.dialog.templates import PromptTemplate, RetrievedRecord, load_templates

__all__ = [
    "DEFAULT_MAX_TURNS",
    "BudgetedPrompt",
    "Decision",
    "InvalidHistoryError",
    "InvalidWeightsError",
    "PolicyEngine",
    "PolicyError",
    "PolicyPack",
    "PolicyRule",
    "PromptTemplate",
    "PromptTemplateError",
    "PromptTooLongError",
    "RetrievedRecord",
    "SessionHistory",
    "TokenCounter",
    "Turn",
    "choose_variant",
    "cited_record_ids",
    "fit_to_budget",
    "load_default_policy",
    "load_templates",
    "omitted_note",
    "session_point",
    "variant_label",
]
