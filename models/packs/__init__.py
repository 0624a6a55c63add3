"""Versioned YAML packs (cleaning rules, inference policies): one loader, one engine shape, shared field checks."""

from __future__ import annotations

from models.packs.engine import PackEngine
from models.packs.pack import DEFAULT_PRIORITY, Pack, PackError, PackRule, RuleFields

__all__ = ["DEFAULT_PRIORITY", "Pack", "PackEngine", "PackError", "PackRule", "RuleFields"]
