"""Table entries scoped to a tenant: a request reads and writes only its own tenant's sessions and request ids.

Key format. Both inference tables (`sessions`, `answered_requests`) are keyed by the canonical JSON array
`[tenant, id]`: no spaces, ASCII only (`json.dumps(..., separators=(",", ":"), ensure_ascii=True)`), e.g.
`["acme","s-42"]`. JSON quotes and escapes both strings, so two different pairs never give the same key, whatever
characters an id holds (a plain separator character between them would rely on ids never containing it). The
tenant is `null` only for a malformed request whose tenant was invalid: it can still be answered (and remembered
as answered), under a key no valid tenant shares.

Values carry their tenant too (`{"tenant": "acme", ...}`), and a value read under a key is used only if it names
the tenant asking. That covers entries written before this format, under bare keys (the session id or request
id alone): they are never found under the new keys, and if one were (a bare id that happens to spell
`["acme","s-42"]`), its value names no tenant and is ignored. So after an upgrade every session in flight starts
over with no history, and a request answered before the upgrade but repeated after it is answered again: a
one-time loss, never a crash and never an entry of another tenant. The old entries stay until they expire like
any other (`agents/inference/expiry.py`; values from before expiry envelopes existed never do).
"""

from __future__ import annotations

import json
from typing import Any


def table_key(tenant: str | None, item_id: str) -> str:
    """The key of `item_id` (a session id or request id) of `tenant` in an inference table."""
    return json.dumps([tenant, item_id], separators=(",", ":"), ensure_ascii=True)


def request_key(tenant: str, request_id: str) -> bytes:
    """The Kafka key of everything Sluice keeps per request: review items and decisions, the kept context."""
    return table_key(tenant, request_id).encode()


def tenant_of(key: str) -> str | None:
    """The tenant a key belongs to; None for a key in the old bare format (or with no tenant)."""
    if not key.startswith("["):
        return None
    try:
        parsed = json.loads(key)
    except ValueError:
        return None
    if isinstance(parsed, list) and len(parsed) == 2 and isinstance(parsed[0], str) and isinstance(parsed[1], str):
        return parsed[0]
    return None


def owned(tenant: str | None, value: dict[str, Any]) -> dict[str, Any]:
    """The value as stored: tagged with the tenant it belongs to."""
    return {**value, "tenant": tenant}


def owned_by(tenant: str | None, stored: Any) -> dict[str, Any] | None:
    """The value stored for `tenant`, without its tag; None when nothing is stored or it is not `tenant`'s."""
    if not isinstance(stored, dict) or "tenant" not in stored or stored["tenant"] != tenant:
        return None
    return {k: v for k, v in stored.items() if k != "tenant"}
