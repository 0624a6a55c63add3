"""`sluice bench codegen`: how often the promoted generator's code passes its tests, first time and after repair.

Each of the fixed tasks (models/codegen/bench_tasks.py) goes through the same repair loop the inference service
runs for a `code` request with tests: generate, validate (syntax, ruff, tests in the sandbox), send the errors back,
up to --max-attempts. Rounds alternate the task order, so that warm-up and drift do not always fall on the same
tasks; greedy decoding gives each round the same answers, so the pass rates repeat and the times show the spread.

Severe errors are a syntax error or a sandbox violation. Before validation that is the share of first raw answers
with one; after validation it is the share of answers that would be returned as `ok` (passed) and still have one.
The second is 0 by construction, and is computed from the outcomes all the same, so that a validator that let one
through would show here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agents.bench.common import write_result
from agents.core.settings import Settings
from agents.tools.stats import median, percentile
from models.codegen.bench_tasks import BENCH_TASKS, BenchTask
from models.codegen.limits import RunLimits
from models.codegen.repair import generate_validated
from schemas.errors import SluiceError
from schemas.inference import CodeValidation

MAX_TOKENS = 384


@dataclass(frozen=True)
class TaskRun:
    """One task in one round (numbered from 1): every attempt's validation, and the seconds it took (generation and
    validation)."""

    task: str
    round: int
    seconds: float
    validation_seconds: tuple[float, ...]
    history: tuple[CodeValidation, ...]

    @property
    def first(self) -> CodeValidation:
        return self.history[0]

    @property
    def final(self) -> CodeValidation:
        return self.history[-1]


def severe(validation: CodeValidation) -> bool:
    """A syntax error or a sandbox violation: the errors validation exists to keep from a caller."""
    return not validation.syntax_ok or validation.sandbox_violation is not None


def share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def spread(values: Sequence[float], places: int = 2) -> dict[str, float | None]:
    """Median, 10th and 90th percentile, and their distance (the spread) of values."""
    if not values:
        return {"median": None, "p10": None, "p90": None, "spread": None}
    p10, p90 = percentile(values, 10), percentile(values, 90)
    return {
        "median": median(values, places),
        "p10": round(p10, places),
        "p90": round(p90, places),
        "spread": round(p90 - p10, places),
    }


def figures(runs: Sequence[TaskRun]) -> dict[str, Any]:
    """The bench's figures from its runs (pure): pass rates, severe error rates, attempts, times, per round."""
    total = len(runs)
    rounds = sorted({run.round for run in runs})
    per_round = [
        {
            "round": number,
            "pass_at_1": share(sum(r.first.passed for r in of_round), len(of_round)),
            "pass_after_repair": share(sum(r.final.passed for r in of_round), len(of_round)),
        }
        for number in rounds
        if (of_round := [r for r in runs if r.round == number])
    ]
    attempts = Counter(run.final.attempts for run in runs)
    violations = Counter(v.sandbox_violation for run in runs for v in run.history if v.sandbox_violation)
    return {
        "runs": total,
        "pass_at_1": share(sum(run.first.passed for run in runs), total),
        "pass_after_repair": share(sum(run.final.passed for run in runs), total),
        "severe_error_rate_before_validation": share(sum(severe(run.first) for run in runs), total),
        "severe_error_rate_after_validation": share(sum(run.final.passed and severe(run.final) for run in runs), total),
        "pass_at_1_by_round": spread([r["pass_at_1"] for r in per_round if r["pass_at_1"] is not None], 3),
        "pass_after_repair_by_round": spread(
            [r["pass_after_repair"] for r in per_round if r["pass_after_repair"] is not None], 3
        ),
        "seconds_per_task": spread([run.seconds for run in runs]),
        "seconds_per_validation": spread([s for run in runs for s in run.validation_seconds], 3),
        "attempts_histogram": {str(n): attempts[n] for n in sorted(attempts)},
        "passed_by_attempts": {
            str(n): sum(1 for run in runs if run.final.attempts == n and run.final.passed) for n in sorted(attempts)
        },
        "violations": dict(violations.most_common()),
        "syntax_errors_first_answer": sum(not run.first.syntax_ok for run in runs),
        "tests_never_run_first_answer": sum(run.first.tests_passed + run.first.tests_failed == 0 for run in runs),
        "by_round": per_round,
        "by_task": {
            name: {
                "passed_at_1": sum(r.first.passed for r in mine),
                "passed_after_repair": sum(r.final.passed for r in mine),
                "runs": len(mine),
                "attempts": [r.final.attempts for r in mine],
                "last_errors": (mine[-1].final.test_errors or mine[-1].final.lint_errors)[:2],
            }
            for name in dict.fromkeys(run.task for run in runs)
            if (mine := [r for r in runs if r.task == name])
        },
    }


def round_order(tasks: Sequence[BenchTask], number: int) -> list[BenchTask]:
    """Round `number` (from 0): even rounds in the given order, odd rounds reversed."""
    return list(tasks) if number % 2 == 0 else list(reversed(tasks))


def run_codegen_bench(
    settings: Settings, *, max_attempts: int, tasks: int | None, rounds: int, max_tokens: int = MAX_TOKENS
) -> dict[str, Any]:
    """Writes var/bench/codegen.json, prints it and returns the results."""
    from models.registry import Registry, open_generator

    name = settings.generator_model
    root = settings.resolved_registry_dir
    version = Registry(root).state().entry(name).promoted
    if version is None:
        raise SluiceError(
            f"no promoted version of {name!r} under {root}: run `sluice models import smollm2 --promote` first"
        )
    generator = open_generator(root, name, version, intra_threads=settings.generate_threads)
    chosen = BENCH_TASKS[: tasks or len(BENCH_TASKS)]
    limits = RunLimits()
    load = os.getloadavg()[0]

    async def generate(prompt: str) -> str:
        rendered = generator.render_chat([{"role": "user", "content": prompt}])
        [output] = await asyncio.to_thread(
            generator.generate_batch, [rendered], max_tokens=[max_tokens], temperature=[0.0]
        )
        return output.text

    async def one(task: BenchTask, number: int) -> TaskRun:
        from models.codegen.validate import validate_code

        validation_seconds: list[float] = []

        def timed_validate(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return validate_code(*args, **kwargs)
            finally:
                validation_seconds.append(round(time.perf_counter() - started, 3))

        started = time.perf_counter()
        outcome = await generate_validated(
            generate,
            instruction=task.instruction,
            language="python",
            request_tests=task.tests,
            limits=limits,
            max_attempts=max_attempts,
            validate=timed_validate,
        )
        seconds = round(time.perf_counter() - started, 2)
        return TaskRun(task.name, number + 1, seconds, tuple(validation_seconds), outcome.history)

    async def all_rounds() -> list[TaskRun]:
        runs: list[TaskRun] = []
        for number in range(rounds):
            for task in round_order(chosen, number):
                run = await one(task, number)
                runs.append(run)
                verdict = "passed" if run.final.passed else "failed"
                print(f"  round {run.round} {task.name}: {verdict} after {run.final.attempts} ({run.seconds}s)")
        return runs

    print(f"== codegen: {len(chosen)} tasks x {rounds} rounds, {name}@{version}, up to {max_attempts} attempts ==")
    runs = asyncio.run(all_rounds())
    results = {
        "model": f"{name}@{version}",
        "tasks": len(chosen),
        "rounds": rounds,
        "max_attempts": max_attempts,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "intra_threads": settings.generate_threads,
        "sandbox_limits": {**asdict(limits), "processes": 0},
        "network_isolated": not any(v.limits.network for run in runs for v in run.history),
        "cpu_cores": os.cpu_count(),
        "load_average_1m_before": round(load, 2),
        **figures(runs),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = write_result(settings, "codegen", results)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written to {out}")
    return results
