"""The rule packs shipped with Sluice, read from the YAML files packaged under models/cleaning/packs."""

from __future__ import annotations

from functools import lru_cache

from models.cleaning.pack import RulePack
from models.packs.checks import bundled_text

BUNDLED_PACK_FILES: tuple[str, ...] = ("base.yaml", "medical.yaml")


@lru_cache(maxsize=1)
def _bundled() -> tuple[RulePack, ...]:
    return tuple(RulePack.from_yaml(bundled_text("models.cleaning.packs", name)) for name in BUNDLED_PACK_FILES)


def load_bundled_packs() -> list[RulePack]:
    """The bundled packs in application order: base, then medical."""
    # Packs are immutable, so one parse per process is shared; the list itself is the caller's.
    return list(_bundled())
