"""`sluice ab report`: compare model variants from the audit stream (latency, tokens, statuses, reviews)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from agents.core.messages import SourcePosition
from agents.tools.stats import mean, percentiles

# Review outcomes per variant, from the review agent's audit events: the human-vs-model comparison a rollout
# decision rests on (how often people send the model's draft as it is, change it, or refuse it).
REVIEW_EVENTS = {
    "review.approved": "approved_unchanged",
    "review.edited": "edited",
    "review.rejected": "rejected",
    "review.expired": "expired",
}


ResponseTimes = Mapping[tuple[str | None, str], int]


def first_response_times(responses: Iterable[SourcePosition]) -> dict[tuple[str | None, str], int]:
    """(tenant, request_id) → timestamp (ms) of the first response a client could read that is not a streamed
    partial: the answer, or `pending_review` for a reviewed request (what the client waited for first)."""
    first: dict[tuple[str | None, str], int] = {}
    for record in responses:
        if record.value is None or record.timestamp_ms is None:
            continue
        try:
            response = json.loads(record.value)
        except ValueError:
            continue
        if not isinstance(response, dict) or response.get("status") == "partial" or not response.get("request_id"):
            continue
        key = (response.get("tenant"), str(response["request_id"]))
        first[key] = min(first.get(key, record.timestamp_ms), record.timestamp_ms)
    return first


def compare_variants(
    audit_events: Iterable[dict[str, Any]],
    *,
    tenant: str | None = None,
    response_times: ResponseTimes | None = None,
) -> dict[str, Any]:
    """Group request.answered audit events by model version and variant, with their human review outcomes.

    Requests that never reached a model (policy answers, reviews without a draft, rejections) are grouped under
    "(no model)". `reviews.sent` counts requests a rule sent to review; the other review counts come from the
    decisions on them (`review.*` events), under the variant that drafted the answer.

    `latency_ms` is the worker's own figure (timings_ms.total: from taking the request to answering it);
    `client_latency_ms` is what the client saw: from its request record's timestamp to the response record's
    (first_response_times), so time queued in Kafka and the commit are in it too.
    """
    times = response_times or {}
    client: dict[str, list[float]] = defaultdict(list)
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
        produced = details.get("request_produced_at_ms")
        seen = times.get((event.get("tenant"), str(event.get("subject_id"))))
        if isinstance(produced, int) and seen is not None:
            client[key].append(float(max(0, seen - produced)))
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
            "client_latency_ms": percentiles(client[key], (50, 95, 99)),
            "mean_completion_tokens": mean(completion[key]),
        }
    return report
