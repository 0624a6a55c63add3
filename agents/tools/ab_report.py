"""`sluice ab report`: compare model variants from the audit stream (latency, tokens, statuses, reviews)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from agents.tools.stats import mean, percentiles


def compare_variants(audit_events: Iterable[dict[str, Any]], *, tenant: str | None = None) -> dict[str, Any]:
    """Group request.answered audit events by model version and variant.

    Requests that never reached a model (policy answers, reviews, rejections) are grouped under the model
    the session would have used only when known; otherwise under "(no model)".
    """
    latency: dict[str, list[float]] = defaultdict(list)
    completion: dict[str, list[int]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    for event in audit_events:
        if event.get("event_type") != "request.answered" or (tenant and event.get("tenant") != tenant):
            continue
        details = event.get("details") or {}
        model = (event.get("versions") or {}).get("model") or "(no model)"
        key = f"{model} [{details.get('variant') or '-'}]"
        statuses[key][str(details.get("status"))] += 1
        total = (event.get("timings_ms") or {}).get("total")
        if isinstance(total, int | float):
            latency[key].append(float(total))
        tokens = details.get("tokens") or {}
        if isinstance(tokens.get("completion"), int) and details.get("status") == "ok":
            completion[key].append(tokens["completion"])
    report: dict[str, Any] = {}
    for key in sorted(statuses):
        n = sum(statuses[key].values())
        report[key] = {
            "requests": n,
            "statuses": dict(statuses[key]),
            "pending_review": statuses[key].get("pending_review", 0),
            "latency_ms": percentiles(latency[key], (50, 95, 99)),
            "mean_completion_tokens": mean(completion[key]),
        }
    return report
