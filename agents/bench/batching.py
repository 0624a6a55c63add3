"""`sluice bench batching`: does batching pay on this machine, for short prompts and for retrieval-sized ones?

The raw engine (CTranslate2 int8, the worker's intra threads) generates for the same prompts twice, alternating:
in the batches the dynamic batcher would form (`max_batch_size`, `max_batch_tokens`) and one prompt at a time.
It does so for prompts without retrieved records (the inference bench's chat prompts) and with `retrieval_k`
records of `chunk_max_chars` characters (a chat turn with retrieval). The ratio batched ÷ one-at-a-time of
requests per second says whether the batches are worth forming; on a GPU they are by far, on a small CPU the
answer depends on the prompt length.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from agents.bench.common import write_result
from agents.bench.versions import ensure_models
from agents.bench.workload import MAX_TOKENS, generate_tokens, render_prompts, workload
from agents.core.settings import Settings
from agents.tools.stats import median, rate, ratio
from models.batching.types import BatchLimits
from models.dialog.templates import RetrievedRecord

TENANT = "bench"


def record_texts(count: int, chars: int) -> list[str]:
    """`count` retrieved-record texts of `chars` characters, shaped like de-identified records: the workload's
    sentences, each after a customer's pseudonyms (a person and a mobile number, as ingest writes them)."""
    sentences = workload(128)
    texts = []
    for n in range(count):
        text = ""
        index = n * 7
        person, mobile = (hashlib.sha256(f"{kind}{n}".encode()).hexdigest()[:16] for kind in "pm")  # one customer
        while len(text) < chars:
            text += f"<PERSON_{person}> (<CN_MOBILE_{mobile}>): {sentences[index % len(sentences)]} "
            index += 1
        texts.append(_cut_outside_pseudonyms(text, chars))
    return texts


def _cut_outside_pseudonyms(text: str, chars: int) -> str:
    """text[:chars], shortened so that no pseudonym is cut in half (half a pseudonym is no pseudonym)."""
    cut = text[:chars]
    opened = cut.rfind("<")
    return cut[:opened].rstrip() if opened > cut.rfind(">") else cut


def batches(costs: Sequence[int], limits: BatchLimits) -> list[list[int]]:
    """The batches (item indexes) the dynamic batcher would form when all items are queued at once."""
    out: list[list[int]] = []
    left = list(range(len(costs)))
    while left:
        indexes, _ = limits.select([costs[i] for i in left])
        out.append([left[i] for i in indexes])
        left = [i for n, i in enumerate(left) if n not in set(indexes)]
    return out


def timed(
    run: Callable[[Sequence[str]], int], prompts: Sequence[str], split: Sequence[Sequence[int]]
) -> tuple[float, int]:
    """Seconds and completion tokens for all prompts, batch by batch."""
    started = time.perf_counter()
    tokens = sum(run([prompts[i] for i in batch]) for batch in split)
    return time.perf_counter() - started, tokens


def compare(
    run: Callable[[Sequence[str]], int], prompts: Sequence[str], split: Sequence[Sequence[int]], repeats: int
) -> dict[str, Any]:
    """Batched and one at a time, alternating `repeats` times; medians, and batched ÷ one-at-a-time."""
    alone = [[i] for i in range(len(prompts))]
    batched: list[tuple[float, int]] = []
    single: list[tuple[float, int]] = []
    for repeat in range(repeats):
        # Whichever goes first runs measurably slower here (about 10 % with identical batches of one), so the
        # order alternates: an even number of repeats cancels it.
        if repeat % 2 == 0:
            batched.append(timed(run, prompts, split))
            single.append(timed(run, prompts, alone))
        else:
            single.append(timed(run, prompts, alone))
            batched.append(timed(run, prompts, split))
    batched_s = median((s for s, _ in batched), places=None) or 0.0
    single_s = median((s for s, _ in single), places=None) or 0.0
    batched_tokens = round(median((t for _, t in batched), places=None) or 0)
    single_tokens = round(median((t for _, t in single), places=None) or 0)
    return {
        "batch_sizes": [len(batch) for batch in split],
        "batched": {
            "seconds": round(batched_s, 2),
            "tokens": batched_tokens,
            "tokens_per_s": rate(batched_tokens, batched_s),
        },
        "one_at_a_time": {
            "seconds": round(single_s, 2),
            "tokens": single_tokens,
            "tokens_per_s": rate(single_tokens, single_s),
        },
        # Same prompts either way, so requests per second is the ratio of the times. Greedy int8 outputs shift
        # a little with batch composition, so token counts (and tokens/s) can differ between the two.
        "requests_per_s_ratio": ratio(single_s, batched_s),
        "tokens_per_s_ratio": ratio(rate(batched_tokens, batched_s), rate(single_tokens, single_s)),
    }


def run_batching_bench(settings: Settings, *, prompts: int, repeats: int) -> dict[str, Any]:
    """Writes var/bench/batching.json, prints a table and returns the results."""
    from models.registry import open_generator

    versions = ensure_models(settings)
    generator = open_generator(
        settings.resolved_registry_dir, versions.name, versions.int8, intra_threads=settings.generate_threads
    )

    def run(batch: Sequence[str]) -> int:
        return generate_tokens(generator, batch)

    limits = BatchLimits(
        max_batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_length_ratio=settings.max_length_ratio,
    )
    questions = workload(prompts)
    run(render_prompts(generator, TENANT, questions[:2]))  # the first call allocates
    cases: list[dict[str, Any]] = []
    # (records, token budget, aliases, shared prefix): no records; the records whole with their pseudonyms and no
    # shared prefix (the prompts before #12); fitted to the budget (SLUICE_CONTEXT_TOKENS); with pseudonyms shown as
    # aliases (SLUICE_PROMPT_ALIASES), without and then with the batch's shared prefix run once (static_prompt):
    # the last is what the service does today.
    budget = settings.context_tokens or None
    k = settings.retrieval_k
    shapes: list[tuple[int, int | None, bool, bool]] = [(0, None, False, True), (k, None, False, False)]
    if budget:
        shapes += [(k, budget, False, True), (k, budget, True, False), (k, budget, True, True)]
    load = os.getloadavg()[0]
    for count, context_tokens, aliases, shared_prefix in tqdm(
        list(dict.fromkeys(shapes)), unit="case", desc="batched vs one at a time"
    ):
        generator.share_prefix = shared_prefix
        records = record_texts(count, settings.chunk_max_chars)
        retrieved = [RetrievedRecord(record_id=f"rec_{i:04d}", text=text, score=0.5) for i, text in enumerate(records)]
        rendered = render_prompts(
            generator, TENANT, questions, retrieved, context_tokens=context_tokens, aliases=aliases
        )
        prompt_tokens = [generator.count_tokens(p) for p in rendered]
        split = batches([t + MAX_TOKENS for t in prompt_tokens], limits)
        cases.append(
            {
                "retrieved_records": count,
                "context_tokens": context_tokens,
                "aliases": aliases,
                "shared_prefix": shared_prefix,
                "prompt_tokens_mean": round(statistics.mean(prompt_tokens)),
                **compare(run, rendered, split, repeats),
            }
        )
    results = {
        "model": f"{versions.name}@{versions.int8}",
        "prompts": prompts,
        "max_tokens": MAX_TOKENS,
        "max_batch_size": settings.max_batch_size,
        "max_batch_tokens": settings.max_batch_tokens,
        "intra_threads": settings.generate_threads,
        "repeats": repeats,
        "cpu_cores": os.cpu_count(),
        "load_average_1m_before": round(load, 2),
        "cases": cases,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = write_result(settings, "batching", results)
    print(format_table(results))
    print(f"written to {out}")
    return results


def format_table(results: dict[str, Any]) -> str:
    columns = (
        "records",
        "budget",
        "aliases",
        "prefix",
        "prompt tok",
        "batches",
        "batched s",
        "1-by-1 s",
        "req/s ratio",
        "tok/s ratio",
    )
    rows = [
        (
            case["retrieved_records"],
            case.get("context_tokens") or "-",
            "yes" if case.get("aliases") else "no",
            "shared" if case.get("shared_prefix") else "-",
            case["prompt_tokens_mean"],
            "+".join(str(size) for size in case["batch_sizes"]),
            case["batched"]["seconds"],
            case["one_at_a_time"]["seconds"],
            case["requests_per_s_ratio"],
            case["tokens_per_s_ratio"],
        )
        for case in results["cases"]
    ]
    header = (
        f"{results['prompts']} prompts, {results['max_tokens']} new tokens, batches of up to "
        f"{results['max_batch_size']} requests and {results['max_batch_tokens']} tokens, "
        f"{results['intra_threads']} threads, median of {results['repeats']}"
    )
    return "\n".join([header, *("  ".join(f"{value!s:>11}" for value in row) for row in [columns, *rows])])
