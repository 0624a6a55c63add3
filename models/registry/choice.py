"""Which version of a generator should serve: light-load latency per version, and the best answers within an aim."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.generation.generator import TextGenerator
from models.registry.names import RegistryError

LATENCY_NEW_TOKENS = 64

# A chat turn shaped like the demo's light-load chat with retrieval: a system prompt holding retrieved records
# (a few hundred tokens, like SLUICE_CONTEXT_TOKENS' 448 budget) and a question asking for a long answer, so
# that 64 new tokens are generated rather than an early end token.
_RECORDS = (
    "Record 1: Shipment SH-2041 left Shanghai on 3 March, two days late because of a storm; 40 pallets of "
    "electronics for the Rotterdam warehouse, insured, customs cleared on arrival.",
    "Record 2: Invoice INV-8810 for customer Blue Harbour Ltd was paid twice on 5 March; the duplicate payment "
    "of 12,400 EUR is held for refund after the finance team confirms the bank details.",
    "Record 3: 订单 CN-5531 于三月六日从深圳发出，预计三月二十日到达汉堡，货物为二十箱医疗器械，需要冷链运输。",
    "Record 4: Support ticket T-377: the customer reports that tracking for SH-2041 shows no update for four "
    "days; the carrier says the vessel waits for a berth in Rotterdam.",
    "Record 5: 客户投诉 C-118：发票金额与合同不一致，差额为三百欧元，财务部门已开始核对。",
    "Record 6: Warehouse note W-92: Rotterdam has room for 60 more pallets until the end of March; after that, "
    "overflow goes to the Antwerp site at a higher rate.",
)
LATENCY_MESSAGES: tuple[Mapping[str, str], ...] = (
    {
        "role": "system",
        "content": "You are a logistics assistant. Answer using these records:\n" + "\n".join(_RECORDS),
    },
    {
        "role": "user",
        "content": "Write a detailed report of every shipment, invoice and complaint in the records, "
        "in at least 150 words.",
    },
)


@dataclass(frozen=True)
class Latency:
    """Medians over runs: prefill plus the first token, and a whole answer scaled to LATENCY_NEW_TOKENS tokens."""

    first_token_ms: float
    total_ms: float
    new_tokens: int  # what the timed answers produced (before scaling); below 64 means an early end token
    prompt_tokens: int
    runs: int


def measure_latency(
    generators: Mapping[str, TextGenerator],
    *,
    runs: int = 5,
    new_tokens: int = LATENCY_NEW_TOKENS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Latency]:
    """Time one short chat request per version, one at a time (light load), alternating versions within each run.

    The machine is shared and noisy: alternating (and rotating which version goes first) spreads a slow spell over
    every version instead of over whichever happened to be timed during it, and the median drops outliers. A first
    untimed request per version warms caches and allocators. An answer that ends before new_tokens is scaled
    linearly to new_tokens from its per-token decode time.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    names = list(generators)
    prompts = {name: generators[name].render_chat(LATENCY_MESSAGES) for name in names}
    for name in names:
        generators[name].generate_batch([prompts[name]], max_tokens=[1], temperature=[0.0])
    first: dict[str, list[float]] = {name: [] for name in names}
    total: dict[str, list[float]] = {name: [] for name in names}
    produced: dict[str, list[int]] = {name: [] for name in names}
    prompt_tokens: dict[str, int] = {}
    for run in range(runs):
        shift = run % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            generator, prompt = generators[name], prompts[name]
            started = clock()
            generator.generate_batch([prompt], max_tokens=[1], temperature=[0.0])
            first_ms = (clock() - started) * 1000
            started = clock()
            [answer] = generator.generate_batch([prompt], max_tokens=[new_tokens], temperature=[0.0])
            whole_ms = (clock() - started) * 1000
            prompt_tokens[name] = answer.prompt_tokens
            produced[name].append(answer.completion_tokens)
            first[name].append(first_ms)
            total[name].append(_scaled(first_ms, whole_ms, answer.completion_tokens, new_tokens))
    return {
        name: Latency(
            first_token_ms=round(statistics.median(first[name]), 1),
            total_ms=round(statistics.median(total[name]), 1),
            new_tokens=min(produced[name]),
            prompt_tokens=prompt_tokens[name],
            runs=runs,
        )
        for name in names
    }


def _scaled(first_ms: float, whole_ms: float, produced: int, wanted: int) -> float:
    if produced >= wanted or produced <= 1:
        return whole_ms
    per_token = max(whole_ms - first_ms, 0.0) / (produced - 1)
    return whole_ms + per_token * (wanted - produced)


@dataclass(frozen=True)
class Candidate:
    """A version's quality against the reference answers and its measured light-load latency."""

    version: str
    rouge_l: float | None  # None: imported before the question set existed, so not comparable
    exact_match: float | None
    total_ms: float
    first_token_ms: float


class NoVersionQualifiesError(RegistryError):
    """No scored version keeps the latency aim; the caller keeps what serves now."""


def choose_version(
    candidates: Sequence[Candidate], *, latency_aim_ms: float, first_token_aim_ms: float | None = None
) -> Candidate:
    """The version with the best ROUGE-L against the references among those that keep the latency aim.

    Ties go to the better exact match, then the faster version, then the version name (so the choice is
    deterministic). Versions without quality scores are never chosen. Raises NoVersionQualifiesError naming every
    version and why it was left out when none qualifies.
    """
    qualified: list[Candidate] = []
    reasons: list[str] = []
    for candidate in candidates:
        if candidate.rouge_l is None:
            reasons.append(f"{candidate.version}: no quality scores (re-import it to score it)")
        elif candidate.total_ms > latency_aim_ms:
            reasons.append(f"{candidate.version}: {candidate.total_ms:.0f} ms > aim {latency_aim_ms:.0f} ms")
        elif first_token_aim_ms is not None and candidate.first_token_ms > first_token_aim_ms:
            reasons.append(
                f"{candidate.version}: first token {candidate.first_token_ms:.0f} ms > aim {first_token_aim_ms:.0f} ms"
            )
        else:
            qualified.append(candidate)
    if not qualified:
        raise NoVersionQualifiesError(
            "no version keeps the latency aim: " + ("; ".join(reasons) if reasons else "no versions")
        )
    return min(
        qualified,
        key=lambda c: (-(c.rouge_l or 0.0), -(c.exact_match or 0.0), c.total_ms, c.version),
    )


def candidate_from(version: str, quality: Mapping[str, Any], latency: Latency) -> Candidate:
    """A Candidate from a manifest's quality block and a measured latency."""
    refs = quality.get("vs_references")
    if not isinstance(refs, Mapping):
        refs = None
    return Candidate(
        version=version,
        rouge_l=None if refs is None else float(refs["rouge_l"]),
        exact_match=None if refs is None else float(refs["exact_match"]),
        total_ms=latency.total_ms,
        first_token_ms=latency.first_token_ms,
    )
