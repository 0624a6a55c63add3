"""Keyed digests of content Sluice keeps only as a hash: prompts, answers, dead-letter keys and bytes.

A bare SHA-256 of a short text can be confirmed by guessing ("does this prompt hash to the one that held
13812345678?" is a few billion guesses at most), and these digests are kept for as long as the audit stream
and the dead-letter topics are. HMAC-SHA256 under a key derived from the pseudonym key (Settings.digest_secret)
makes a digest checkable only by someone holding that key. The fields keep their `_sha256` names (the wire
schemas of v1 topics do not change), and their schema descriptions say they are keyed.
"""

from __future__ import annotations

import hashlib
import hmac


def keyed_digest(key: bytes, data: bytes | str) -> str:
    """HMAC-SHA256 of `data` (str as UTF-8) under `key`, as 64 lower-case hex characters."""
    if not key:
        raise ValueError("a keyed digest needs a non-empty key")
    message = data.encode("utf-8") if isinstance(data, str) else data
    return hmac.new(key, message, hashlib.sha256).hexdigest()
