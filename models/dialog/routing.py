"""A/B routing of sessions to model or template versions: deterministic, sticky, weighted."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping

from schemas.errors import ConfigurationError


class InvalidWeightsError(ConfigurationError, ValueError):
    """A/B weights are not usable: empty, negative, not finite, or summing to zero."""


_PART_RE = re.compile(r"[.\-+_]")


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    # Numeric parts compare as numbers, so "1.10.0" sorts after "1.9.0" (as strings it would not).
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _PART_RE.split(version))


def ordered_versions(weights: Mapping[str, float]) -> list[str]:
    """The versions in routing order: by version number, then as strings. Validates the weights."""
    if not isinstance(weights, Mapping) or not weights:
        raise InvalidWeightsError("weights must be a non-empty mapping of version to weight")
    for version, weight in weights.items():
        if not isinstance(version, str) or not version:
            raise InvalidWeightsError(f"versions must be non-empty strings, got {version!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise InvalidWeightsError(f"weight of {version!r} must be a finite number >= 0, got {weight!r}")
    if sum(weights.values()) <= 0:
        raise InvalidWeightsError(f"weights must sum to more than 0, got {dict(weights)}")
    return sorted(weights, key=lambda version: (_version_key(version), version))


def session_point(session_id: str, *, experiment: str = "") -> float:
    """Where a session falls in [0, 1): the first 64 bits of SHA-256 over experiment and session id.

    SHA-256 rather than hash(): Python's str hash is salted per process, and every worker must agree.
    """
    digest = hashlib.sha256(f"{experiment}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_variant(session_id: str, weights: Mapping[str, float], *, experiment: str = "") -> str:
    """The version this session uses: its point in [0, 1) mapped onto the cumulative weights.

    Sticky: the same session id, experiment and weights always give the same version, in every worker.
    A version with weight 0 is never chosen. `experiment` salts the hash, so that the sessions that get
    the first variant of one experiment are not the same sessions in every other experiment.

    Changing weights moves only the sessions whose point now falls in another version's segment. With
    versions in a fixed order, moving weight between two neighbours moves just the sessions between the
    old and new boundary (raising B from 10% to 20% moves 10% of sessions from A to B, none back); but
    adding or removing a version shifts the segments of every version after it, which can move many
    sessions. Add a new version with weight 0 first if stable labels matter (see variant_label).
    """
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a string, got {type(session_id).__name__}")
    versions = ordered_versions(weights)
    total = math.fsum(weights[version] for version in versions)
    target = session_point(session_id, experiment=experiment) * total
    cumulative = 0.0
    chosen = versions[-1]
    for version in versions:
        weight = weights[version]
        if weight <= 0:
            continue
        cumulative += weight
        chosen = version
        if target < cumulative:
            return version
    # Rounding can leave target a hair above the summed weights: the last version with weight gets it.
    return chosen


def variant_label(version: str, weights: Mapping[str, float]) -> str:
    """The label "A", "B", … of a version by its place in routing order (zero-weight versions keep theirs)."""
    versions = ordered_versions(weights)
    if version not in weights:
        raise KeyError(f"{version!r} is not one of the routed versions {versions}")
    index = versions.index(version)
    label = ""
    # Bijective base 26: A..Z, then AA, AB, … so any number of variants gets a distinct label.
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        label = chr(ord("A") + remainder) + label
    return label
