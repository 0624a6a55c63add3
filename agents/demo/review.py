"""The review part of the demo: one request a policy rule sends to a person, decided, and its final response."""

from __future__ import annotations

import time
import uuid
from typing import Any

from agents.api.client import IndexApi
from agents.api.tokens import TokenStore
from agents.core.settings import Settings
from agents.demo.inference_client import InferenceClient

PROMPT = "We will take legal action over the late delivery of order SO-46342748."
TIMEOUT_S = 300.0


def run_review_demo(settings: Settings, bootstrap: str, api_url: str, tenant: str) -> dict[str, Any]:
    """Ask once, see it queued with the model's draft, approve it as a reviewer would, and wait for the final."""
    store = TokenStore(settings.resolved_api_tokens_file)
    issued = store.create("reviewer", tenant=tenant, name="make demo reviewer")
    reviewer = IndexApi(api_url, token=issued.token, timeout_s=60.0)
    client = InferenceClient(settings, bootstrap, tenant, max_tokens=48)
    request_id = f"demo-review-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    try:
        client.send([client.request(request_id, PROMPT, session_id=request_id)])
        _, first = client.collect({request_id}, TIMEOUT_S, "review: first response")[request_id]
        print(f"  client got: status={first['status']} reason={first.get('reason')!r}")
        item = _wait_for_item(reviewer, request_id)
        draft = (item.get("draft") or "").replace("\n", " ")[:160]
        print(f"  queued for review: rule={item['rule_id']} risk={item['risk_score']} prompt={item['prompt']!r}")
        print(f"  the model's draft: {draft!r}")
        if item.get("draft"):
            reviewer.review_decide(request_id, "approve")
            action = "approved"
        else:
            reviewer.review_decide(request_id, "edit", text="A colleague from our legal team will contact you.")
            action = "edited"
        print(f"  a reviewer {action} it (token {issued.entry.token_id}); waiting for the final response …")
        # The first response was pending_review; the next one for the same id is the final.
        final_client_time, final = client.collect({request_id}, TIMEOUT_S, "review: final response")[request_id]
        print(f"  final response: status={final['status']} review={final.get('review')}")
        return {
            "review": {
                "request_id": request_id,
                "tenant": tenant,
                "first_status": first["status"],
                "final_status": final["status"],
                "decision": (final.get("review") or {}).get("decision"),
                "seconds": round(final_client_time - started, 1),
            }
        }
    finally:
        client.close()
        store.revoke(issued.entry.token_id)


def _wait_for_item(reviewer: IndexApi, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        for item in reviewer.review_items():
            if item["request_id"] == request_id:
                return item
        time.sleep(0.5)
    raise TimeoutError(f"{request_id} did not appear in the review queue within 60 s (see `sluice status`)")
