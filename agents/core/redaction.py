"""Hiding secrets in anything Sluice shows or logs: secret-named options, URI credentials, SecretStr values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

MASK = "**********"

# An option or field whose name holds one of these words carries a secret (sasl.password, ssl.key.password,
# sasl.oauthbearer.client.secret, ssl.key.pem, api_token, sasl.jaas.config). Hiding a harmless one
# (ssl.key.location) costs a line of debugging; showing a password costs the cluster.
_SECRET_WORDS = re.compile(r"password|passwd|secret|token|credential|jaas|key", re.IGNORECASE)
# ...unless the name says it is an identifier of a key (audit_signing_key_id, encryption_key_id) or a digest.
_NAMES_A_KEY = re.compile(r"(?:[._-]id|[._-]ids|_sha256|_hmac)\Z", re.IGNORECASE)

# scheme://userinfo@host: keep the user name (useful when debugging), hide what follows its colon; a userinfo
# without a colon is often a bare token (https://TOKEN@host) and is hidden whole.
_URI_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]+)@")
# ?password=… / &token=… in a query string.
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;][^=&#\s]*(?:password|passwd|secret|token|credential|key)[^=&#\s]*=)[^&#\s]*", re.IGNORECASE
)
# name=value / name: value pairs inside free text (a JAAS line, an error message quoting a config).
_PAIR_SECRET = re.compile(
    r"(?P<name>\b[\w.-]*(?:password|passwd|secret)[\w.-]*[\"']?\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether an option or field called `name` holds a secret (by the words in its name)."""
    return bool(_SECRET_WORDS.search(name)) and not _NAMES_A_KEY.search(name)


def _hide_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user}:{MASK}@" if colon else f"{match.group('scheme')}{MASK}@"


def redact_text(text: str) -> str:
    """`text` with URI credentials, secret query parameters and `password=…` pairs hidden; the rest unchanged."""
    if "@" in text:
        text = _URI_USERINFO.sub(_hide_userinfo, text)
    if "=" in text or ":" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}{MASK}", text)
        text = _PAIR_SECRET.sub(lambda m: f"{m.group('name')}{MASK}", text)
    return text


def redact(value: Any, name: str | None = None) -> Any:
    """A copy of `value` (a settings or log value, possibly nested) safe to show.

    SecretStr values and text under a secret-named key are replaced by the mask (a number under such a name,
    `max_batch_tokens=8192`, is a count, not a secret); strings anywhere lose the credentials they embed
    (redact_text); containers are walked.
    """
    if isinstance(value, SecretStr):
        return MASK
    if name is not None and isinstance(value, str | bytes) and is_secret_name(name):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
