"""The figures of `sluice bench eos`, apart from measuring them: the round order, the per-mode medians, EOS/ALO of
the medians, whether every round did the same work, and the table that prints them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from agents.tools.stats import median, ratio

Guarantee = Literal["at_least_once", "exactly_once"]
MODES: tuple[Guarantee, Guarantee] = ("at_least_once", "exactly_once")
SHORT: dict[Guarantee, str] = {"at_least_once": "ALO", "exactly_once": "EOS"}


def interleaved(rounds: int, modes: Sequence[Guarantee] = MODES) -> list[tuple[int, Guarantee]]:
    """(round, mode) in run order: every round runs each mode once, so drift in the machine's load hits all alike."""
    if rounds < 1:
        raise ValueError(f"at least one round, asked for {rounds}")
    return [(number, mode) for number in range(1, rounds + 1) for mode in modes]


@dataclass(frozen=True)
class RoundResult:
    """One mode in one round. `ingest` and `inference` hold JSON-ready figures (see `agents.bench.eos.run_round`)."""

    round: int
    mode: Guarantee
    ingest: dict[str, Any]
    inference: dict[str, Any]
    restart_seconds: float
    warmup_seconds: float
    cpu_seconds: dict[str, dict[str, float]]
    worker_restarts: dict[str, int]  # restarts by the keep-alive supervisor during the round, by worker slot
    warmup_missing: list[str]  # warm-up requests never answered


def _per_mode(rounds: Sequence[RoundResult], mode: Guarantee) -> dict[str, Any]:
    mine = [r for r in rounds if r.mode == mode]

    def series(part: str, key: str) -> dict[str, Any]:
        values = [getattr(r, part)[key] for r in mine]
        return {"rounds": values, "median": median([v for v in values if v is not None])}

    def latency(part: str) -> dict[str, float | None]:
        return {
            q: median([v for r in mine if (v := getattr(r, part)["latency_ms"][q]) is not None]) for q in ("p50", "p95")
        }

    return {
        "ingest_records_per_s": series("ingest", "records_per_s"),
        "ingest_steady_records_per_s": series("ingest", "steady_records_per_s"),
        "ingest_latency_ms": latency("ingest"),
        "inference_tokens_per_s": series("inference", "tokens_per_s"),
        "inference_requests_per_s": series("inference", "requests_per_s"),
        "inference_latency_ms": latency("inference"),
        "acks": [r.ingest["acks"] for r in mine],
        "ack_messages": [r.ingest["ack_messages"] for r in mine],
        "responses": [r.inference["responses"] for r in mine],
        "tokens": [r.inference["tokens"] for r in mine],
    }


def summarise(rounds: Sequence[RoundResult], *, records: int, requests: int) -> dict[str, Any]:
    """The bench's result: each round, per mode the rounds and their median, EOS/ALO of the medians, and whether
    every round did the same work (all records acknowledged once, every request answered ok)."""
    modes = {mode: _per_mode(rounds, mode) for mode in MODES}
    alo, eos = modes["at_least_once"], modes["exactly_once"]

    def eos_vs_alo(key: str) -> float | None:
        return ratio(eos[key]["median"], alo[key]["median"])

    token_counts = {r.inference["tokens"] for r in rounds}
    return {
        "records": records,
        "requests": requests,
        "rounds": max((r.round for r in rounds), default=0),
        "order": [f"{r.round}:{r.mode}" for r in rounds],
        "eos_vs_alo": {
            "ingest_records_per_s": eos_vs_alo("ingest_records_per_s"),
            "ingest_steady_records_per_s": eos_vs_alo("ingest_steady_records_per_s"),
            "inference_tokens_per_s": eos_vs_alo("inference_tokens_per_s"),
            "inference_requests_per_s": eos_vs_alo("inference_requests_per_s"),
        },
        "modes": modes,
        "same_work": {
            "ingest": bool(rounds) and all(r.ingest["acks"] == r.ingest["ack_messages"] == records for r in rounds),
            "inference": bool(rounds)
            and all(r.inference["by_status"] == {"ok": requests} for r in rounds)
            and all(r.inference["responses"] == requests for r in rounds),
            "inference_tokens_identical": len(token_counts) == 1,
        },
        "per_round": [asdict(r) for r in rounds],
    }


def _cell(value: float | None, width: int) -> str:
    return f"{'-' if value is None else value:>{width}}"


def _seconds(milliseconds: float | None, width: int) -> str:
    return _cell(None if milliseconds is None else round(milliseconds / 1000, 2), width)


def format_table(result: Mapping[str, Any]) -> str:
    """A compact table: one line per round, then the medians per mode and the EOS/ALO ratios."""
    head = (
        f"{'round':<7}{'mode':<5}{'ingest rec/s':>13}{'steady':>8}{'p50 s':>8}{'p95 s':>8}{'acks':>6}"
        f"{'tok/s':>9}{'req/s':>7}{'p50 s':>8}{'p95 s':>8}{'ok':>5}{'restarts':>10}"
    )
    lines = [head]

    def line(
        label: str, mode: Guarantee, ingest: Mapping[str, Any], inference: Mapping[str, Any], restarts: int | None
    ) -> str:
        return (
            f"{label:<7}{SHORT[mode]:<5}{_cell(ingest['rate'], 13)}{_cell(ingest['steady'], 8)}"
            f"{_seconds(ingest['p50'], 8)}{_seconds(ingest['p95'], 8)}{_cell(ingest['count'], 6)}"
            f"{_cell(inference['rate'], 9)}{_cell(inference['requests'], 7)}{_seconds(inference['p50'], 8)}"
            f"{_seconds(inference['p95'], 8)}{_cell(inference['count'], 5)}{_cell(restarts, 10)}"
        )

    for r in result["per_round"]:
        ingest, inference = r["ingest"], r["inference"]
        lines.append(
            line(
                str(r["round"]),
                r["mode"],
                {
                    "rate": ingest["records_per_s"],
                    "steady": ingest["steady_records_per_s"],
                    **ingest["latency_ms"],
                    "count": ingest["acks"],
                },
                {
                    "rate": inference["tokens_per_s"],
                    "requests": inference["requests_per_s"],
                    **inference["latency_ms"],
                    "count": inference["by_status"].get("ok", 0),
                },
                sum(r["worker_restarts"].values()),
            )
        )
    for mode in MODES:
        m = result["modes"][mode]
        lines.append(
            line(
                "median",
                mode,
                {
                    "rate": m["ingest_records_per_s"]["median"],
                    "steady": m["ingest_steady_records_per_s"]["median"],
                    **m["ingest_latency_ms"],
                    "count": None,
                },
                {
                    "rate": m["inference_tokens_per_s"]["median"],
                    "requests": m["inference_requests_per_s"]["median"],
                    **m["inference_latency_ms"],
                    "count": None,
                },
                None,
            )
        )
    ratios = result["eos_vs_alo"]
    lines.append(
        f"eos_vs_alo  ingest {ratios['ingest_records_per_s']} (steady {ratios['ingest_steady_records_per_s']})  "
        f"inference {ratios['inference_tokens_per_s']} tokens/s, {ratios['inference_requests_per_s']} requests/s"
    )
    lines.append(f"same work   {result['same_work']}")
    return "\n".join(lines)
