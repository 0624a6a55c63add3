"""What the HTTP API's unit tests share: an authenticator that knows no tokens, for handlers tested past it."""

from __future__ import annotations

from pathlib import Path

from agents.api.auth import Authenticator
from agents.api.tokens import TokenStore

# Never read: the handlers these tests call directly run after authentication.
NO_TOKENS = Authenticator(
    TokenStore(Path("/nonexistent/sluice-unit-tests/api-tokens.json")), service_token=None, metrics_open=True
)
