"""Session history as a bounded, JSON-serialisable value, and fitting it into a model's context budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from models.dialog.errors import InvalidHistoryError, PromptTooLongError

Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = ("user", "assistant")
# Table values stay small: 20 turns is ten exchanges, more than a budget usually lets through anyway.
DEFAULT_MAX_TURNS = 20

TokenCounter = Callable[[str], int]


def omitted_note(count: int) -> str:
    """The note that tells the model earlier turns exist but were left out."""
    return f"({count} earlier turn{'s' if count != 1 else ''} omitted)"


@dataclass(frozen=True)
class Turn:
    """One message of a session, with the request that produced it."""

    role: Role
    content: str
    request_id: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidHistoryError(f"turn role must be one of {list(ROLES)}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise InvalidHistoryError(f"turn content must be a string, got {type(self.content).__name__}")
        if not isinstance(self.request_id, str) or not self.request_id:
            raise InvalidHistoryError(f"turn request_id must be a non-empty string, got {self.request_id!r}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content, "request_id": self.request_id}

    @classmethod
    def from_dict(cls, data: object) -> Turn:
        if not isinstance(data, Mapping) or set(data) != {"role", "content", "request_id"}:
            raise InvalidHistoryError("a turn must be a mapping with exactly role, content and request_id")
        return cls(role=cast(Role, data["role"]), content=data["content"], request_id=data["request_id"])


@dataclass(frozen=True)
class SessionHistory:
    """The turns of one session, oldest first. Immutable: append returns a new history."""

    turns: tuple[Turn, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.turns, tuple) or not all(isinstance(turn, Turn) for turn in self.turns):
            raise InvalidHistoryError("turns must be a tuple of Turn")

    def append(self, turn: Turn, *, max_turns: int = DEFAULT_MAX_TURNS) -> SessionHistory:
        """A history with `turn` added and at most `max_turns` turns kept (the newest).

        If trimming would leave an assistant turn first, it goes too: its question is gone, and a reply
        without its question is half an exchange.
        """
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive integer, got {max_turns!r}")
        turns = (*self.turns, turn)
        if len(turns) > max_turns:
            turns = turns[-max_turns:]
            if turns[0].role == "assistant":
                turns = turns[1:]
        return SessionHistory(turns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the value stored in the sessions table)."""
        return {"turns": [turn.to_dict() for turn in self.turns]}

    @classmethod
    def from_dict(cls, data: object) -> SessionHistory:
        """Inverse of to_dict; a malformed value is an InvalidHistoryError."""
        if not isinstance(data, Mapping) or set(data) != {"turns"} or not isinstance(data["turns"], list):
            raise InvalidHistoryError("a session history must be a mapping with exactly one list field 'turns'")
        return cls(tuple(Turn.from_dict(item) for item in data["turns"]))


@dataclass(frozen=True)
class BudgetedPrompt:
    """Chat messages ready for the model's chat template, and what budgeting did."""

    messages: list[dict[str, str]]
    dropped_turns: int
    prompt_tokens: int


def _exchanges(turns: tuple[Turn, ...]) -> list[tuple[Turn, Turn]]:
    """Complete user→assistant exchanges, oldest first.

    An unanswered question (the request failed) or a stray reply is not an exchange and is never sent:
    the model would read it as part of the conversation's logic.
    """
    pairs: list[tuple[Turn, Turn]] = []
    index = 0
    while index < len(turns) - 1:
        first, second = turns[index], turns[index + 1]
        if first.role == "user" and second.role == "assistant":
            pairs.append((first, second))
            index += 2
        else:
            index += 1
    return pairs


def fit_to_budget(
    history: SessionHistory,
    *,
    system_prompt: str,
    new_user_message: str,
    context_tokens: int,
    reserve_tokens: int,
    count_tokens: TokenCounter,
    per_message_tokens: int = 0,
    history_tokens: int | None = None,
) -> BudgetedPrompt:
    """The system prompt, as many of the newest whole exchanges as fit, and the new message.

    The budget is `context_tokens - reserve_tokens` (the reserve is the answer's max new tokens); the exchanges
    kept also cost at most `history_tokens` together (None: no limit of their own). Prefill sets chat latency on
    CPU, so a long session's older turns are left out long before the model's context is full.
    Each message costs `count_tokens(content) + per_message_tokens` (the chat template's role markers).
    When exchanges are left out, a note saying how many turns were omitted is appended to the system
    message (one is created if the system prompt is empty) and counted: many chat templates reject a
    second system message, so the note does not get one of its own. If the note itself does not fit, the
    prompt goes without it rather than being rejected. An empty system prompt sends no system message.

    Raises PromptTooLongError when the system prompt and the new message alone exceed the budget.
    """
    if context_tokens <= 0 or reserve_tokens < 0 or per_message_tokens < 0 or (history_tokens or 0) < 0:
        raise ValueError(
            f"need context_tokens > 0, reserve_tokens >= 0, per_message_tokens >= 0, history_tokens >= 0; got "
            f"{context_tokens}, {reserve_tokens}, {per_message_tokens}, {history_tokens}"
        )
    budget = context_tokens - reserve_tokens

    def cost(content: str) -> int:
        return count_tokens(content) + per_message_tokens

    def system_cost(dropped: int) -> int:
        text = _system_text(system_prompt, dropped)
        return cost(text) if text else 0

    new_cost = cost(new_user_message)
    base = system_cost(0) + new_cost
    if base > budget:
        raise PromptTooLongError(prompt_tokens=base, context_tokens=context_tokens, reserve_tokens=reserve_tokens)

    pairs = _exchanges(history.turns)
    total_turns = len(history.turns)
    # Cost of the k newest exchanges, for k = 0..len(pairs); exchanges are only ever taken newest first.
    pair_costs = [0]
    for user, assistant in reversed(pairs):
        pair_costs.append(pair_costs[-1] + cost(user.content) + cost(assistant.content))

    chosen, with_note, prompt_tokens = 0, False, base
    for k in range(len(pair_costs) - 1, -1, -1):
        dropped = total_turns - 2 * k
        total = system_cost(dropped) + new_cost + pair_costs[k]
        if total <= budget and (history_tokens is None or pair_costs[k] <= history_tokens):
            chosen, with_note, prompt_tokens = k, dropped > 0, total
            break
    else:
        # Only reachable when the note alone does not fit next to the system prompt and new message.
        chosen, with_note, prompt_tokens = 0, False, base

    dropped_turns = total_turns - 2 * chosen
    messages: list[dict[str, str]] = []
    system_text = _system_text(system_prompt, dropped_turns if with_note else 0)
    if system_text:
        messages.append({"role": "system", "content": system_text})
    for user, assistant in pairs[len(pairs) - chosen :]:
        messages.append({"role": "user", "content": user.content})
        messages.append({"role": "assistant", "content": assistant.content})
    messages.append({"role": "user", "content": new_user_message})
    return BudgetedPrompt(messages=messages, dropped_turns=dropped_turns, prompt_tokens=prompt_tokens)


def _system_text(system_prompt: str, dropped: int) -> str:
    if dropped <= 0:
        return system_prompt
    note = omitted_note(dropped)
    return f"{system_prompt}\n\n{note}" if system_prompt else note
