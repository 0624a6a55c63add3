"""The errors the dialog layer raises: bad policy packs and templates, and prompts that cannot fit."""

from __future__ import annotations

from models.packs import PackError
from schemas.errors import ConfigurationError, PoisonRecordError


class PolicyError(PackError):
    """A policy pack is invalid; a poison record, like every PackError."""

    what = "policy pack"
    stage = "dialog.policy"


class PromptTemplateError(ConfigurationError, ValueError):
    """A prompt template is invalid: bad YAML, a Jinja2 syntax error, or an unknown variable.

    Templates are loaded at start, so a typo stops the worker there instead of failing each request.
    """

    def __init__(self, reason: str, *, template: str | None = None) -> None:
        self.reason = reason
        self.template = template
        where = f"prompt template {template!r}: " if template is not None else ""
        super().__init__(where + reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_template_error, (self.reason, self.template))


def _rebuild_template_error(reason: str, template: str | None) -> PromptTemplateError:
    return PromptTemplateError(reason, template=template)


class PromptTooLongError(PoisonRecordError, ValueError):
    """The system prompt plus the new user message alone exceed the context budget.

    The request itself is at fault; the caller answers it with a `rejected` response.
    """

    def __init__(self, *, prompt_tokens: int, context_tokens: int, reserve_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.context_tokens = context_tokens
        self.reserve_tokens = reserve_tokens
        self.budget_tokens = context_tokens - reserve_tokens
        super().__init__(
            f"prompt needs {prompt_tokens} tokens (system prompt + new message) but only {self.budget_tokens} "
            f"are available ({context_tokens} context - {reserve_tokens} reserved for the answer)",
            stage="dialog.history",
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_too_long, (self.prompt_tokens, self.context_tokens, self.reserve_tokens))


def _rebuild_too_long(prompt_tokens: int, context_tokens: int, reserve_tokens: int) -> PromptTooLongError:
    return PromptTooLongError(prompt_tokens=prompt_tokens, context_tokens=context_tokens, reserve_tokens=reserve_tokens)


class InvalidHistoryError(PoisonRecordError, ValueError):
    """A stored session history (a table value) or a turn does not have the expected shape."""

    stage = "dialog.history"
