"""The two references Sluice's generation is measured against: the raw engine alone (the limit) and a naive loop
(what a user would otherwise write)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agents.bench.common import cpu_seconds
from agents.bench.versions import Versions
from agents.bench.workload import MAX_TOKENS, generate_tokens
from agents.core.settings import Settings
from agents.tools.stats import rate


def timed_generation(
    rendered: Sequence[str], size: int, generate: Callable[[Sequence[str]], int], desc: str
) -> dict[str, Any]:
    """Generate for the prompts in batches of `size` in this process, timed: tokens, seconds, tokens/s, seconds per
    batch, this process's CPU seconds and the machine's load before."""
    tokens = 0
    batch_seconds: list[float] = []
    load = os.getloadavg()[0]
    cpu_before = cpu_seconds(os.getpid())
    started = time.perf_counter()
    with tqdm(total=len(rendered), unit="req", desc=desc, leave=False) as bar:
        for i in range(0, len(rendered), size):
            batch = rendered[i : i + size]
            batch_started = time.perf_counter()
            tokens += generate(batch)
            batch_seconds.append(round(time.perf_counter() - batch_started, 2))
            bar.update(len(batch))
    elapsed = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": round(elapsed, 2),
        "tokens_per_s": rate(tokens, elapsed),
        "batch_seconds": batch_seconds,
        "cpu_seconds": round(cpu_seconds(os.getpid()) - cpu_before, 2),
        "load_average_1m_before": round(load, 2),
    }


def measure_raw_engine(settings: Settings, versions: Versions, rendered: Sequence[str]) -> dict[str, Any]:
    """CTranslate2 int8 generate_batch alone, in batches of max_batch_size, with the worker's intra threads."""
    from models.registry import open_generator

    generator = open_generator(
        settings.resolved_registry_dir, versions.name, versions.int8, intra_threads=settings.generate_threads
    )
    generate_tokens(generator, rendered[:2])  # first call allocates
    return timed_generation(
        rendered, settings.max_batch_size, lambda batch: generate_tokens(generator, batch), "raw engine"
    )


def naive_source_dir(settings: Settings) -> Path:
    """The dequantised float32 Hugging Face directory the registry converted SmolLM2 from (cached by the import)."""
    from models.registry.importer import SOURCES_DIR
    from models.registry.sources import descriptor_key, prepare_smollm2_source, smollm2_descriptor

    cache = (
        settings.resolved_registry_dir / SOURCES_DIR / f"smollm2-135m-instruct-{descriptor_key(smollm2_descriptor())}"
    )
    return prepare_smollm2_source(cache / "hf")  # returns the cached directory as it is


def measure_naive(settings: Settings, rendered: Sequence[str]) -> dict[str, Any]:
    """One prompt at a time through transformers float32 generate (greedy), as a per-message consumer would."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = naive_source_dir(settings)
    torch.set_num_threads(2)
    tokenizer: Any = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(str(source), local_files_only=True, dtype=torch.float32)
    model.eval()

    def generate(prompt: str) -> int:
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=MAX_TOKENS,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        new = output[0][inputs["input_ids"].shape[1] :].tolist()
        # Count like CT2Generator: the end token is not a completion token.
        return len(new) - (1 if new and new[-1] == tokenizer.eos_token_id else 0)

    generate(rendered[0])  # first call allocates
    run = timed_generation(rendered, 1, lambda batch: generate(batch[0]), "naive transformers")
    del run["batch_seconds"]
    return {
        "prompts": len(rendered),
        **run,
        "torch_threads": torch.get_num_threads(),
        "source": str(source),
    }
