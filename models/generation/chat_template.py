"""A model's own chat template, rendered as transformers' apply_chat_template does, from its saved tokenizer files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import ConfigurationError


@dataclass(frozen=True)
class ChatTemplate:
    """The chat template saved beside a model (a CTranslate2 version or the Hugging Face source it came from).

    One renderer for the generator and for anything that must see the prompt it saw (`sluice explain`), so the
    two can never drift apart.
    """

    model_dir: Path
    source: str | None
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    _compiled: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.source is None:
            return
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # Same environment options as transformers' apply_chat_template, so prompts match byte for byte.
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_template_error
        object.__setattr__(self, "_compiled", env.from_string(self.source))

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> ChatTemplate:
        """The template of model_dir (chat_template.jinja, else tokenizer_config.json); `source` is None if none."""
        model_dir = Path(model_dir)
        config = _read_json(model_dir / "tokenizer_config.json")
        source: Any = config.get("chat_template")
        jinja_file = model_dir / "chat_template.jinja"
        if jinja_file.is_file():
            source = jinja_file.read_text(encoding="utf-8")
        if isinstance(source, list):  # named templates: transformers picks "default"
            source = next((t.get("template") for t in source if t.get("name") == "default"), None)
        special = {
            key: str(value)
            for key in ("bos_token", "eos_token", "unk_token", "pad_token")
            if isinstance(value := config.get(key), str)
        }
        return cls(model_dir, source if isinstance(source, str) else None, special)

    def render(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The messages as the model's prompt, ending with the assistant generation prompt."""
        if self._compiled is None:
            raise ConfigurationError(f"{self.model_dir} has no chat template")
        for message in messages:
            if "role" not in message or "content" not in message:
                raise ValueError(f"chat messages need 'role' and 'content', got keys {sorted(message)}")
        rendered: str = self._compiled.render(
            messages=[dict(m) for m in messages], add_generation_prompt=True, **self.special_tokens
        )
        return rendered


def _raise_template_error(message: str) -> None:
    raise ValueError(f"chat template rejected the messages: {message}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
