"""Quality scores in the manifest and the choice of a serving version, with the tiny Llama in a fresh registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.cli import main
from models.registry import Manifest, Registry, import_model, open_generator
from models.registry.choice import NoVersionQualifiesError, candidate_from, choose_version, measure_latency
from models.registry.quality_set import QUALITY_SET, QUALITY_SET_KEY


@pytest.fixture(scope="module")
def fresh_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny@float32 then tiny@int8 imported with this code (the shared test registry may hold older manifests)."""
    root = tmp_path_factory.mktemp("quality-registry")
    for quantization in ("float32", "int8"):
        import_model(
            "tiny-llama", name="tiny", version=quantization, quantization=quantization, root=root, progress=False
        )
    return root


def test_manifest_quality_scores_the_bilingual_set_against_references_and_float32(fresh_registry: Path) -> None:
    fp32 = Registry(fresh_registry).model_dir("tiny", "float32")
    int8 = Registry(fresh_registry).model_dir("tiny", "int8")

    for manifest in (Manifest.load(fp32), Manifest.load(int8)):
        quality = manifest.quality
        assert quality["question_set"]["key"] == QUALITY_SET_KEY
        assert quality["question_set"]["questions"] == len(QUALITY_SET)
        assert set(quality["answers"]) == {q.id for q in QUALITY_SET}
        assert quality["vs_references"]["by_language"]["en"]["questions"] == len(QUALITY_SET) // 2
        assert quality["vs_references"]["by_language"]["zh"]["questions"] == len(QUALITY_SET) // 2
        assert 0.0 <= quality["vs_references"]["rouge_l"] <= 1.0
    # float32 is its own reference (and the cached answers int8 was compared with): identical greedy answers.
    assert Manifest.load(fp32).quality["vs_float32"]["exact_match"] == 1.0
    assert Manifest.load(fp32).quality["vs_float32"]["rouge_l"] == 1.0


def test_choice_over_real_generators_respects_the_aim(fresh_registry: Path) -> None:

    versions = ("float32", "int8")
    loaded = {v: open_generator(fresh_registry, "tiny", v) for v in versions}
    figures = measure_latency(loaded, runs=1, new_tokens=8)
    assert set(figures) == set(versions) and all(f.runs == 1 and f.prompt_tokens > 100 for f in figures.values())
    candidates = [
        candidate_from(v, Manifest.load(Registry(fresh_registry).model_dir("tiny", v)).quality, figures[v])
        for v in versions
    ]
    best = max(c.rouge_l or 0.0 for c in candidates)
    assert choose_version(candidates, latency_aim_ms=1e9).rouge_l == best
    with pytest.raises(NoVersionQualifiesError):
        choose_version(candidates, latency_aim_ms=0.0)


def test_cli_quality_and_choose_dry_run_change_nothing(fresh_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_REGISTRY_DIR", str(fresh_registry))
    before = Registry(fresh_registry).state().entry("tiny").promoted
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "quality", "tiny", "--no-latency"])
    assert listed.exit_code == 0, listed.output
    assert "float32" in listed.output and "refRL" in listed.output
    models_list = runner.invoke(main, ["models", "list"])
    assert models_list.exit_code == 0, models_list.output
    [line] = [json.loads(x) for x in models_list.output.splitlines() if '"tiny"' in x]
    assert set(line["quality"]) == {"float32", "int8"}
    assert line["quality"]["float32"].startswith("ref EM ") and "f32 EM 1.00 RL 1.00" in line["quality"]["float32"]
    impossible = runner.invoke(main, ["models", "choose", "tiny", "--runs", "1", "--latency-aim-ms", "0"])
    assert impossible.exit_code == 1 and "no version keeps the latency aim" in impossible.output
    kept = runner.invoke(main, ["models", "choose", "tiny", "--runs", "1", "--latency-aim-ms", "0", "--keep-current"])
    assert kept.exit_code == 0 and f"tiny@{before} keeps serving" in kept.output
    dry = runner.invoke(main, ["models", "choose", "tiny", "--runs", "1", "--latency-aim-ms", "1e9", "--dry-run"])
    assert dry.exit_code == 0 and ("would promote" in dry.output or "already serves" in dry.output)
    assert Registry(fresh_registry).state().entry("tiny").promoted == before
