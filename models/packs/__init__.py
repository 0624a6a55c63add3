"""Versioned YAML packs (cleaning rules, inference policies): one loader and the field checks they share."""

from __future__ import annotations

from models.packs.pack import DEFAULT_PRIORITY, Pack, PackError, PackRule, RuleFields

__all__ = ["DEFAULT_PRIORITY", "Pack", "PackError", "PackRule", "RuleFields"]
