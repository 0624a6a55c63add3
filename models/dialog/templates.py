"""Versioned prompt templates (Jinja2, sandboxed, strict) that turn retrieved records into a system prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, cast

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from models.dialog.errors import PromptTemplateError
from models.packs.checks import (
    bundled_text,
    check_fields,
    check_kind,
    check_name,
    check_str,
    check_version,
    close_match,
    load_yaml,
    named_mapping,
)

Task = Literal["chat", "complete"]
TASKS: tuple[Task, ...] = ("chat", "complete")
# What each template may refer to; anything else is a typo, reported at load.
SYSTEM_VARIABLES = frozenset({"tenant", "context", "record_count"})
CONTEXT_ITEM_VARIABLES = frozenset({"number", "record_id", "text", "score"})
_FIELDS = ("name", "version", "task", "description", "system", "context_item")
BUNDLED_TEMPLATE_FILES: tuple[str, ...] = ("chat-default.yaml", "complete-default.yaml")

# Templates may come from operators: the sandbox stops `{{ ''.__class__ ... }}`, StrictUndefined stops
# a misspelt attribute from rendering as "". No autoescape: the output is a prompt, not HTML.
_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class RetrievedRecord:
    """A record found for the prompt: its id (what the answer cites), its text and its search score."""

    record_id: str
    text: str
    score: float


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt. `system` is None for plain continuation (task "complete")."""

    name: str
    version: str
    task: Task
    system: str | None
    context_item: str | None
    description: str = ""
    _system: jinja2.Template | None = field(init=False, repr=False, compare=False)
    _context_item: jinja2.Template | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_name(self.name, PromptTemplateError)

        def fail(reason: str) -> PromptTemplateError:
            return PromptTemplateError(reason, template=self.name)

        check_version(self.version, fail)
        check_kind("task", self.task, TASKS, fail)
        check_str(self.description, "description", fail, allow_empty=True)
        if self.task == "chat" and self.system is None:
            raise fail("a chat template needs a system prompt")
        if self.system is None and self.context_item is not None:
            raise fail("context_item without a system prompt has nowhere to go")
        if self.system is not None and self.context_item is None:
            raise fail("a template with a system prompt needs context_item to show retrieved records")
        object.__setattr__(self, "_system", self._compile("system", self.system, SYSTEM_VARIABLES))
        object.__setattr__(
            self, "_context_item", self._compile("context_item", self.context_item, CONTEXT_ITEM_VARIABLES)
        )
        # Rendering sample values at load makes errors that only show at render time (a misspelt
        # attribute, a filter applied to the wrong type) fail here, with and without records.
        try:
            self.render("sample-tenant", [RetrievedRecord("rec-1", "sample text", 0.5)])
            self.render("sample-tenant", [])
        # Any exception, not only Jinja2's: `{{ tenant + 1 }}` is a TypeError, and it is still a bad template.
        except Exception as exc:
            raise fail(f"fails on sample values: {type(exc).__name__}: {exc}") from None

    def _compile(self, field_name: str, source: str | None, allowed: frozenset[str]) -> jinja2.Template | None:
        if source is None:
            return None
        if not isinstance(source, str) or not source.strip():
            raise PromptTemplateError(f"{field_name} must be a non-empty string", template=self.name)
        try:
            parsed = _ENV.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise PromptTemplateError(f"{field_name}: {exc.message} (line {exc.lineno})", template=self.name) from None
        unknown = sorted(meta.find_undeclared_variables(parsed) - allowed)
        if unknown:
            hint = close_match(unknown[0], allowed)
            raise PromptTemplateError(
                f"{field_name} uses unknown variable(s) {unknown}{hint}; allowed: {sorted(allowed)}",
                template=self.name,
            )
        return _ENV.from_string(source)

    @property
    def label(self) -> str:
        """`name@version`, recorded with every response."""
        return f"{self.name}@{self.version}"

    def render(self, tenant: str, retrieved: Sequence[RetrievedRecord]) -> str:
        """The system prompt: the records numbered from 1, each with its record_id for citation.

        A template without a system prompt (plain continuation) renders "" and ignores `retrieved`.
        """
        if self._system is None or self._context_item is None:
            return ""
        item = self._context_item
        context = "\n".join(
            item.render(number=number, record_id=record.record_id, text=record.text, score=record.score).strip()
            for number, record in enumerate(retrieved, start=1)
        )
        return self._system.render(tenant=tenant, context=context, record_count=len(retrieved)).strip()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PromptTemplate:
        """Validate a template from its mapping form; any problem is a PromptTemplateError."""
        data, label = named_mapping(data, "prompt template", PromptTemplateError)

        def fail(reason: str) -> PromptTemplateError:
            return PromptTemplateError(reason, template=label)

        check_fields(data, allowed=_FIELDS, required=("name", "version", "task"), fail=fail)
        return cls(
            name=data["name"],
            version=data["version"],
            task=cast(Task, data["task"]),
            system=data.get("system"),
            context_item=data.get("context_item"),
            description=data.get("description", ""),
        )

    @classmethod
    def from_yaml(cls, text: str) -> PromptTemplate:
        """Parse and validate a template from YAML text; any problem is a PromptTemplateError."""
        data = load_yaml(text, PromptTemplateError)
        return cls.from_mapping(cast(Mapping[str, Any], data))

    def to_mapping(self) -> dict[str, Any]:
        """Plain data that from_mapping turns back into an equal template."""
        data: dict[str, Any] = {"name": self.name, "version": self.version, "task": self.task}
        data["description"] = self.description
        if self.system is not None:
            data["system"] = self.system
            data["context_item"] = self.context_item
        return data


@lru_cache(maxsize=1)
def _bundled() -> tuple[PromptTemplate, ...]:
    # templates/ has no __init__.py: as a package it would shadow this module, which has the same name.
    return tuple(
        PromptTemplate.from_yaml(bundled_text("models.dialog", "templates", name)) for name in BUNDLED_TEMPLATE_FILES
    )


def load_templates() -> dict[str, PromptTemplate]:
    """The bundled templates by name (chat-default, complete-default)."""
    # Templates are immutable, so one parse per process is shared; the dict itself is the caller's.
    return {template.name: template for template in _bundled()}
