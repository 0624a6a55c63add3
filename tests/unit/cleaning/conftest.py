"""Shared fixtures for the cleaning tests: the bundled engine and a builder for small test packs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from models.cleaning import RuleEngine, RulePack, load_bundled_packs

PackFactory = Callable[..., RulePack]


@pytest.fixture(scope="session")
def bundled() -> RuleEngine:
    return RuleEngine(load_bundled_packs())


def build_pack(
    *rules: Mapping[str, Any],
    name: str = "test",
    version: str = "1.0.0",
    protected: Sequence[str] = (),
    priority: int | None = None,
) -> RulePack:
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": "a pack built by a test",
        "protected_terms": list(protected),
        "rules": list(rules),
    }
    if priority is not None:
        data["priority"] = priority
    return RulePack.from_mapping(data)


@pytest.fixture
def make_pack() -> PackFactory:
    return build_pack
