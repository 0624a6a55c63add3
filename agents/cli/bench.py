"""`sluice bench`: ratios measured side by side in one run, results under var/bench/."""

from __future__ import annotations

import click

from agents.cli._base import cli_settings


@click.group()
def bench() -> None:
    """Benchmarks: ratios measured side by side in one run (results under var/bench/)."""


@bench.command("ingest")
@click.option("--records", default=1500, show_default=True)
def bench_ingest(records: int) -> None:
    """End-to-end ingest rate through Kafka vs each stage alone."""
    from agents.bench.ingest import run_ingest_bench

    run_ingest_bench(cli_settings(), records=records)


@bench.command("inference")
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1, 128))
@click.option("--naive-prompts", default=16, show_default=True, help="Prompts for the per-message transformers loop.")
@click.option("--light-requests", default=20, show_default=True, help="Streamed chat requests, one at a time.")
@click.option("--sessions", default=15, show_default=True, help="Multi-turn sessions sent at once.")
@click.option("--turns", default=8, show_default=True, help="Turns per multi-turn session.")
def bench_inference(requests: int, naive_prompts: int, light_requests: int, sessions: int, turns: int) -> None:
    """Raw CTranslate2 vs Sluice through Kafka vs a naive transformers loop vs Sluice float32, in one run; light
    load with retrieval (time to first token), multi-turn sessions and deadlines as a client sees them."""
    from agents.bench.inference import run_inference_bench

    run_inference_bench(
        cli_settings(),
        requests=requests,
        naive_prompts=naive_prompts,
        light_requests=light_requests,
        sessions=sessions,
        turns=turns,
    )


@bench.command("chat")
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1, 128), help="Deadline burst size.")
@click.option("--light-requests", default=20, show_default=True, help="Streamed chat requests, one at a time.")
@click.option("--sessions", default=15, show_default=True, help="Multi-turn sessions sent at once.")
@click.option("--turns", default=8, show_default=True, help="Turns per multi-turn session.")
def bench_chat(requests: int, light_requests: int, sessions: int, turns: int) -> None:
    """Chat as a client sees it, alone: light load with retrieval (time to first token), multi-turn sessions and
    deadlines (the same figures `sluice bench inference` takes, without its engine, naive and float32 runs)."""
    from agents.bench.light_load import run_chat_bench

    run_chat_bench(cli_settings(), requests=requests, light_requests=light_requests, sessions=sessions, turns=turns)


@bench.command("batching")
@click.option("--prompts", default=16, show_default=True, type=click.IntRange(1, 128), help="Prompts per case.")
@click.option(
    "--repeats", default=2, show_default=True, type=click.IntRange(1), help="Runs of each per case, order alternating."
)
def bench_batching(prompts: int, repeats: int) -> None:
    """The raw engine batched vs one prompt at a time, without and with retrieved records in the prompt."""
    from agents.bench.batching import run_batching_bench

    run_batching_bench(cli_settings(), prompts=prompts, repeats=repeats)


@bench.command("eos")
@click.option("--records", default=600, show_default=True, type=click.IntRange(1), help="Ingest records per round.")
@click.option("--requests", default=32, show_default=True, type=click.IntRange(1, 128), help="Requests per round.")
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1), help="Rounds of each guarantee.")
def bench_eos(records: int, requests: int, rounds: int) -> None:
    """Ingest and inference throughput under at_least_once vs exactly_once, interleaved rounds in one run."""
    from agents.bench.eos import run_eos_bench

    run_eos_bench(cli_settings(), records=records, requests=requests, rounds=rounds)


@bench.command("codegen")
@click.option(
    "--max-attempts",
    default=3,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Generations per task, 1 + repairs.",
)
@click.option(
    "--tasks", default=None, type=click.IntRange(1), help="Only the first N of the fixed tasks (default: all)."
)
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1), help="Rounds, task order alternating.")
@click.option(
    "--max-tokens", default=384, show_default=True, type=click.IntRange(1, 1024), help="New tokens per answer."
)
def bench_codegen(max_attempts: int, tasks: int | None, rounds: int, max_tokens: int) -> None:
    """Validated code generation: pass@1, pass after repair and severe errors before and after validation."""
    from agents.bench.codegen import run_codegen_bench

    run_codegen_bench(cli_settings(), max_attempts=max_attempts, tasks=tasks, rounds=rounds, max_tokens=max_tokens)


@bench.command("retrieval")
@click.option(
    "--rounds", default=2, show_default=True, type=click.IntRange(1), help="Rounds, retriever order alternating."
)
@click.option("--seed", default=7, show_default=True, help="Seed of the generated evaluation set.")
@click.option(
    "--encoder",
    "encoders",
    multiple=True,
    type=click.Choice(["use-multilingual", "minilm"]),
    help="Encoders to compare (default: both).",
)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also run hybrid search fused by the rule served before #12 (hybrid-rrf), in the same rounds.",
)
def bench_retrieval(rounds: int, seed: int, encoders: tuple[str, ...], baseline: bool) -> None:
    """Recall@5 and MRR@10 of dense, sparse and hybrid search on a generated bilingual set, per encoder."""
    from agents.bench.retrieval import run_retrieval_bench
    from models.embedding.opening import EMBEDDER_MODELS

    chosen = [model for model in EMBEDDER_MODELS if not encoders or model in encoders]
    run_retrieval_bench(cli_settings(), rounds=rounds, seed=seed, encoders=chosen, baseline=baseline)


COMMANDS: tuple[click.Command, ...] = (bench,)
