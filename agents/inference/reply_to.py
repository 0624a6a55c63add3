"""Where a response may go: the reply_to rule.

A request's `reply_to` names the topic for its response, and anyone who can produce a request can name any
topic. Left open, a response could be written into audit.events.v1 (breaking the hash chain for good), onto a
control topic (rules.v1, models.registry.v1) or among records that downstream systems trust. The rule:

- `inference.responses.v1` is always allowed (it is where the response goes anyway);
- no other topic declared in topics/specs.py is ever allowed, whatever the patterns say;
- any other topic must fully match one of `SLUICE_REPLY_TO_PATTERNS` (default: `inference.responses.<name>`)
  and be a possible Kafka topic name (at most 249 characters).

A request that breaks the rule is not processed: it is answered on inference.responses.v1 with status `error`
and a reason naming the rule, and an audit event `request.reply_to_refused` records it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from agents.core.settings import DEFAULT_REPLY_TO_PATTERNS
from topics.specs import ALL_TOPICS, INFERENCE_RESPONSES

RESERVED_TOPICS = frozenset(topic.name for topic in ALL_TOPICS) - {INFERENCE_RESPONSES.name}
KAFKA_MAX_TOPIC_CHARS = 249
RULE = (
    f"reply_to must be {INFERENCE_RESPONSES.name} or a topic matching SLUICE_REPLY_TO_PATTERNS, "
    "never another topic Sluice declares"
)


@dataclass(frozen=True)
class ReplyToRule:
    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def from_patterns(cls, patterns: Iterable[str] = DEFAULT_REPLY_TO_PATTERNS) -> ReplyToRule:
        return cls(tuple(re.compile(pattern) for pattern in patterns))

    def refusal(self, topic: str) -> str | None:
        """Why a response may not go to `topic`, or None when it may."""
        if topic == INFERENCE_RESPONSES.name:
            return None
        if len(topic) > KAFKA_MAX_TOPIC_CHARS:
            # Not a topic at all; and not echoed back, nor matched against patterns, at any length.
            return f"reply_to is not a Kafka topic name (over {KAFKA_MAX_TOPIC_CHARS} characters); {RULE}"
        if topic in RESERVED_TOPICS:
            return f"reply_to {topic!r} is a topic of Sluice's own; {RULE}"
        if not any(pattern.fullmatch(topic) for pattern in self.patterns):
            return f"reply_to {topic!r} matches none of SLUICE_REPLY_TO_PATTERNS; {RULE}"
        return None
