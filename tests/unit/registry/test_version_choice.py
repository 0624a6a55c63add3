"""The choice of the serving version: best answers among versions that keep the latency aim; latency bookkeeping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from models.generation.generator import Generation
from models.registry.choice import (
    Candidate,
    Latency,
    NoVersionQualifiesError,
    candidate_from,
    choose_version,
    measure_latency,
)
from models.registry.state import RegistryError


def _c(version: str, rouge_l: float | None, total_ms: float, *, em: float = 0.0, first_ms: float = 500.0) -> Candidate:
    return Candidate(version, rouge_l, None if rouge_l is None else em, total_ms, first_ms)


def test_best_rouge_l_within_the_aim_wins_over_a_faster_worse_version() -> None:
    chosen = choose_version([_c("int8", 0.20, 1500), _c("int8_float32", 0.35, 2500)], latency_aim_ms=4000)
    assert chosen.version == "int8_float32"


def test_a_better_version_over_the_aim_is_passed_over() -> None:
    candidates = [_c("int8", 0.20, 1500), _c("float32", 0.50, 4200), _c("int8_float32", 0.30, 3900)]
    assert choose_version(candidates, latency_aim_ms=4000).version == "int8_float32"


def test_the_first_token_aim_also_excludes() -> None:
    candidates = [_c("int8", 0.20, 1500), _c("float32", 0.50, 3000, first_ms=1600)]
    assert choose_version(candidates, latency_aim_ms=4000, first_token_aim_ms=1500).version == "int8"
    assert choose_version(candidates, latency_aim_ms=4000).version == "float32"


def test_ties_go_to_exact_match_then_speed_then_name() -> None:
    assert choose_version([_c("a", 0.3, 1000, em=0.1), _c("b", 0.3, 2000, em=0.2)], latency_aim_ms=4000).version == "b"
    assert choose_version([_c("a", 0.3, 2000), _c("b", 0.3, 1000)], latency_aim_ms=4000).version == "b"
    assert choose_version([_c("b", 0.3, 1000), _c("a", 0.3, 1000)], latency_aim_ms=4000).version == "a"


def test_unscored_versions_are_never_chosen() -> None:
    chosen = choose_version([_c("old", None, 100), _c("new", 0.1, 3000)], latency_aim_ms=4000)
    assert chosen.version == "new"


def test_none_within_the_aim_raises_a_registry_error_naming_each_reason() -> None:
    with pytest.raises(NoVersionQualifiesError) as caught:
        choose_version([_c("int8", 0.2, 4500), _c("old", None, 100)], latency_aim_ms=4000)
    assert isinstance(caught.value, RegistryError)
    assert "int8: 4500 ms > aim 4000 ms" in str(caught.value)
    assert "old: no quality scores" in str(caught.value)
    with pytest.raises(NoVersionQualifiesError, match="no versions"):
        choose_version([], latency_aim_ms=4000)


def test_candidate_from_reads_the_manifest_reference_scores() -> None:
    latency = Latency(first_token_ms=400.0, total_ms=2000.0, new_tokens=64, prompt_tokens=300, runs=3)
    quality = {"vs_references": {"exact_match": 0.25, "rouge_l": 0.4}}
    assert candidate_from("v1", quality, latency) == Candidate("v1", 0.4, 0.25, 2000.0, 400.0)
    assert candidate_from("v0", {"mean_token_agreement": 0.3}, latency).rouge_l is None


class _FakeGenerator:
    """Produces `produced` tokens per call and advances a shared fake clock by a fixed cost per token."""

    version = "fake"
    max_context_tokens = 2048

    def __init__(self, name: str, clock: list[float], prefill_s: float, per_token_s: float, produced: int) -> None:
        self.name, self.clock = name, clock
        self.prefill_s, self.per_token_s, self.produced = prefill_s, per_token_s, produced
        self.calls: list[str] = []

    def count_tokens(self, text: str) -> int:
        return 300

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        return "prompt"

    def generate_batch(
        self, prompts: Sequence[str], *, max_tokens: Sequence[int], temperature: Sequence[float]
    ) -> list[Generation]:
        n = min(max_tokens[0], self.produced)
        self.clock[0] += self.prefill_s + self.per_token_s * (n - 1)
        self.calls.append(self.name)
        return [Generation("x", 300, n, "length" if n == max_tokens[0] else "stop")]


def test_measure_latency_medians_and_scales_an_early_stop_to_64_tokens() -> None:
    clock = [0.0]
    fast = _FakeGenerator("fast", clock, prefill_s=0.5, per_token_s=0.02, produced=64)
    short = _FakeGenerator("short", clock, prefill_s=1.0, per_token_s=0.05, produced=33)
    figures = measure_latency({"fast": fast, "short": short}, runs=3, clock=lambda: clock[0])
    assert figures["fast"].first_token_ms == pytest.approx(500.0)
    assert figures["fast"].total_ms == pytest.approx(500 + 63 * 20, abs=0.1)
    # 33 tokens in 1000 + 32 * 50 ms; scaled by its 50 ms per token to 64: 1000 + 63 * 50.
    assert figures["short"].total_ms == pytest.approx(1000 + 63 * 50, abs=0.1)
    assert figures["short"].new_tokens == 33 and figures["short"].runs == 3


def test_measure_latency_alternates_and_rotates_which_version_goes_first() -> None:
    clock = [0.0]
    a = _FakeGenerator("a", clock, 0.1, 0.01, 64)
    b = _FakeGenerator("b", clock, 0.1, 0.01, 64)
    log: list[str] = []
    a.calls = b.calls = log
    measure_latency({"a": a, "b": b}, runs=2, clock=lambda: clock[0])
    # Warm-up a, b; run 1: a (first token, whole), b (...); run 2 starts with b.
    assert log == ["a", "b", "a", "a", "b", "b", "b", "b", "a", "a"]
    with pytest.raises(ValueError, match="runs"):
        measure_latency({"a": a}, runs=0)
