"""`sluice ab report`: compare model variants from the audit stream (latency, tokens, statuses, reviews)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from agents.tools.stats import mean, percentiles

# Review outcomes per variant, from the review agent's audit events: the human-vs-model comparison a rollout
# decision rests on (how often people send the model's draft as it is, change it, or refuse it).
REVIEW_EVENTS = {
    "review.approved": "approved_unchanged",
    "review.edited": "edited",
    "review.rejected": "rejected",
    "review.expired": "expired",
}


def compare_variants(audit_events: Iterable[dict[str, Any]], *, tenant: str | None = None) -> dict[str, Any]:
    """Group request.answered audit events by model version and variant, with their human review outcomes.

    Requests that never reached a model (policy answers, reviews without a draft, rejections) are grouped under
    "(no model)". `reviews.sent` counts requests a rule sent to review; the other review counts come from the
    decisions on them (`review.*` events), under the variant that drafted the answer.
    """
    latency: dict[str, list[float]] = defaultdict(list)
    completion: dict[str, list[int]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    reviews: dict[str, Counter[str]] = defaultdict(Counter)
    for event in audit_events:
        if tenant and event.get("tenant") != tenant:
            continue
        event_type = event.get("event_type")
        if event_type in REVIEW_EVENTS:
            details = event.get("details") or {}
            key = f"{details.get('model') or '(no model)'} [{details.get('variant') or '-'}]"
            reviews[key][REVIEW_EVENTS[str(event_type)]] += 1
            continue
        if event_type != "request.answered":
            continue
        details = event.get("details") or {}
        model = (event.get("versions") or {}).get("model") or "(no model)"
        key = f"{model} [{details.get('variant') or '-'}]"
        statuses[key][str(details.get("status"))] += 1
        if details.get("status") == "pending_review":
            reviews[key]["sent"] += 1
        total = (event.get("timings_ms") or {}).get("total")
        if isinstance(total, int | float):
            latency[key].append(float(total))
        tokens = details.get("tokens") or {}
        if isinstance(tokens.get("completion"), int) and details.get("status") == "ok":
            completion[key].append(tokens["completion"])
    report: dict[str, Any] = {}
    for key in sorted(set(statuses) | set(reviews)):
        n = sum(statuses[key].values())
        report[key] = {
            "requests": n,
            "statuses": dict(statuses[key]),
            "pending_review": statuses[key].get("pending_review", 0),
            "reviews": {name: reviews[key].get(name, 0) for name in ("sent", *REVIEW_EVENTS.values())},
            "latency_ms": percentiles(latency[key], (50, 95, 99)),
            "mean_completion_tokens": mean(completion[key]),
        }
    return report
