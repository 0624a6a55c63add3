"""The rule packs shipped with Sluice, read from the YAML files packaged under models/cleaning/packs."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from models.cleaning.pack import RulePack

BUNDLED_PACK_FILES: tuple[str, ...] = ("base.yaml", "medical.yaml")


@lru_cache(maxsize=1)
def _bundled() -> tuple[RulePack, ...]:
    folder = resources.files("models.cleaning.packs")
    return tuple(
        RulePack.from_yaml(folder.joinpath(file_name).read_text(encoding="utf-8")) for file_name in BUNDLED_PACK_FILES
    )


def load_bundled_packs() -> list[RulePack]:
    """The bundled packs in application order: base, then medical."""
    # Packs are immutable, so one parse per process is shared; the list itself is the caller's.
    return list(_bundled())
