"""Text of a completion while it is generated: decoded from all ids so far, never ending in half a character."""

from __future__ import annotations

from collections.abc import Callable, Sequence

# What a byte-level BPE (or byte-fallback) tokenizer decodes an incomplete UTF-8 sequence to.
REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    """Feeds token ids one at a time; `push` returns the completion's text so far, as far as it is settled.

    Decoding the new id alone is wrong for byte-level BPE and byte fallback: a CJK character often spans two or
    three tokens, and a token decoded without its neighbours may lose or gain a leading space. So the cumulative
    ids are decoded every time, and a trailing replacement character (an incomplete UTF-8 sequence) is held back
    until the bytes that complete it arrive. The text returned only grows, never shrinks or changes what it
    returned before: a decode that no longer starts with it (a tokenizer that rewrites earlier text) is held.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self.text = ""

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        decoded = self._decode(self._ids).rstrip(REPLACEMENT)
        if decoded.startswith(self.text):
            self.text = decoded
        return self.text
