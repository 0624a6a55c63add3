"""Human review end to end on the real broker and worker: a reviewed request gets exactly one final response.

Decisions arrive the two ways a reviewer has: the console in a real headless Chromium (Debian's, via Selenium),
and the JSON API that `sluice review` calls. Refusals are tried as an attacker would try them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from agents.api.client import IndexApi, IndexApiError
from agents.api.tokens import TokenStore
from agents.core.settings import Settings
from tests.integration.browser import screenshot
from tests.integration.conftest import wait_for
from tests.integration.helpers import produce, values
from tests.integration.test_inference_flow import ask, responses

PHONE = "13812345678"


def reviewer(settings: Settings, tenant: str) -> str:
    return TokenStore(settings.resolved_api_tokens_file).create("reviewer", tenant=tenant, name="test reviewer").token


def legal(tenant: str, request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "tenant": tenant,
        "prompt": "we will take legal action about my order",
        "max_tokens": 8,
    }


def queued(api: IndexApi, request_ids: set[str]) -> list[dict[str, Any]]:
    return wait_for(lambda: (items := api.review_items()) and request_ids <= {i["request_id"] for i in items} and items)


def audited(bootstrap: str, tenant: str, event_type: str) -> list[dict[str, Any]]:
    return [e for e in values(bootstrap, "audit.events.v1", tenant=tenant) if e["event_type"] == event_type]


def test_reviewers_decide_through_the_api_and_each_request_gets_one_final_response(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    url = str(sluice_up["api_url"])
    api = IndexApi(url, token=reviewer(settings, tenant))
    ids = {name: f"{tenant}-{name}" for name in ("approve", "edit", "reject")}
    ask(bootstrap, [legal(tenant, request_id) for request_id in ids.values()])
    items = {i["request_id"]: i for i in queued(api, set(ids.values()))}
    item = items[ids["approve"]]
    assert item["draft"] is not None and item["rule_id"] == "default.legal_review" and item["risk_score"] == 0.8
    assert item["prompt"] == "we will take legal action about my order" and item["draft_model"] == "tiny-llama@v1"

    # Another tenant's reviewer: naming the tenant is refused, and under its own tenant the id does not exist.
    intruder = IndexApi(url, token=reviewer(settings, f"{tenant}x"))
    with pytest.raises(IndexApiError) as named:
        intruder.review_decide(ids["approve"], "approve", tenant=tenant)
    with pytest.raises(IndexApiError) as unnamed:
        intruder.review_decide(ids["approve"], "approve")
    assert (named.value.status, unnamed.value.status) == (403, 404)
    assert intruder.review_items() == []

    api.review_decide(ids["approve"], "approve")
    api.review_decide(ids["edit"], "edit", text=f"A lawyer will call you; or ring {PHONE}.")
    api.review_decide(ids["reject"], "reject", reason="we answer legal matters by letter")
    found = wait_for(
        lambda: len(f := responses(bootstrap, f"{tenant}-", 3)) == 3 and all(len(v) >= 2 for v in f.values()) and f
    )
    for request_id in ids.values():
        statuses = [r["status"] for r in found[request_id]]
        assert statuses[0] == "pending_review" and len(statuses) == 2, statuses
    approved, edited, rejected = (found[ids[name]][1] for name in ("approve", "edit", "reject"))
    assert approved["status"] == "ok" and approved["text"] == item["draft"]
    assert approved["review"]["decision"] == "approved" and approved["review"]["reviewer"] != "test reviewer"
    assert edited["status"] == "ok" and PHONE not in edited["text"] and "A lawyer will call you" in edited["text"]
    assert rejected["status"] == "rejected" and "by letter" in rejected["reason"] and rejected["text"] == ""

    # Decided: gone from the queue, and a second decision is refused (nothing is sent twice).
    wait_for(lambda: not {i["request_id"] for i in api.review_items()} & set(ids.values()))
    with pytest.raises(IndexApiError) as again:
        api.review_decide(ids["approve"], "reject", reason="changed my mind")
    assert again.value.status == 404
    events = wait_for(lambda: len(a := audited(bootstrap, tenant, "review.approved")) == 1 and a, timeout_s=60)
    token_id = events[0]["details"]["reviewer"]
    assert len(token_id) == 12 and PHONE not in json.dumps(values(bootstrap, "audit.events.v1", tenant=tenant))
    # The refusal's audit event comes from the API after the approvals' events: waited for, not read once.
    assert wait_for(lambda: audited(bootstrap, tenant, "review.decision_refused"), timeout_s=60)
    time.sleep(2)
    assert all(len(found_again) == 2 for found_again in responses(bootstrap, f"{tenant}-", 3).values())


def test_an_item_past_its_review_deadline_times_out_once(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str
) -> None:
    from schemas.records import RulePackMessage

    keyword = f"audit-{uuid.uuid4().hex[:6]}"
    pack = {
        "name": f"r{tenant}",
        "version": "1.0.0",
        "priority": 5,
        "rules": [
            {
                "id": f"r{tenant}.quick",
                "when": {"keywords": [keyword], "tenants": [tenant]},
                "action": "review",
                "reason": "needs a person quickly",
                "draft": False,
                "deadline_s": 2,
            }
        ],
    }
    message = RulePackMessage(name=pack["name"], kind="policy", pack=pack)  # type: ignore[arg-type]
    produce(bootstrap, [("rules.v1", message.key.encode(), message.model_dump_json().encode())])
    try:
        attempt = 0

        def expired() -> dict[str, Any] | None:
            nonlocal attempt
            attempt += 1
            request_id = f"{tenant}-quick{attempt}"
            ask(
                bootstrap,
                [{"request_id": request_id, "tenant": tenant, "prompt": f"{keyword} please", "max_tokens": 4}],
            )
            first = responses(bootstrap, request_id, 1, timeout_s=30).get(request_id, [])
            if not first or first[0]["status"] != "pending_review":
                return None  # the pack is not applied yet: ask again
            both = wait_for(lambda: len(r := responses(bootstrap, request_id, 1, timeout_s=5)[request_id]) >= 2 and r)
            return dict(both[1]) if len(both) == 2 else None

        final = wait_for(expired, timeout_s=120, interval_s=0.5)
        assert final["status"] == "timeout" and final["review"]["decision"] == "expired"
        assert final["review"]["reviewer"] is None and "review deadline" in final["reason"]
    finally:
        produce(bootstrap, [("rules.v1", message.key.encode(), None)])


def test_the_console_in_a_headless_browser_approves_one_item_and_rejects_another(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(selector: str, timeout_s: float = 60) -> Any:
        """The element once the page that has it loaded (a click that submits a form does not wait for that)."""
        located = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector))
        return WebDriverWait(browser, timeout_s).until(located)

    url = str(sluice_up["api_url"]).rstrip("/")
    token = reviewer(settings, tenant)
    first, second = f"{tenant}-web1", f"{tenant}-web2"
    ask(bootstrap, [legal(tenant, first), legal(tenant, second)])
    queued(IndexApi(url, token=token), {first, second})

    browser.get(f"{url}/review")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=token]").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=sign-in]").click()
    shown("[data-testid=item]")
    rows = {r.get_attribute("data-request-id") for r in browser.find_elements(By.CSS_SELECTOR, "[data-testid=item]")}
    assert {first, second} <= rows
    screenshot(browser, "review-queue")

    browser.find_element(By.LINK_TEXT, first).click()
    assert "legal action" in shown("[data-testid=prompt]").text
    draft = browser.find_element(By.CSS_SELECTOR, "[data-testid=draft]").text
    screenshot(browser, "review-item")
    # The draft's explanation, from the context the worker kept (inference.context.v1) and the torch twin.
    item_url = browser.current_url
    browser.find_element(By.CSS_SELECTOR, "[data-testid=explain]").click()
    shown("#heatmap", timeout_s=180)  # the first report loads the torch twin
    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap td[data-weight]")
    assert cells, browser.page_source[:2000]
    assert len({c.value_of_css_property("background-color") for c in cells}) > 1
    screenshot(browser, "review-explain")
    browser.get(item_url)
    shown("[data-testid=approve]").click()
    assert first in shown("[data-testid=notice]").text

    browser.get(f"{url}/review/item?tenant={tenant}&id={second}")
    shown("[data-testid=reject-reason]").send_keys("not answered in writing")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=reject]").click()
    assert second in shown("[data-testid=notice]").text
    screenshot(browser, "review-after-decisions")

    def both_final() -> dict[str, list[dict[str, Any]]] | None:
        found = responses(bootstrap, f"{tenant}-web", 2)
        return found if len(found) == 2 and all(len(v) >= 2 for v in found.values()) else None

    found = wait_for(both_final)
    approved, rejected = found[first][-1], found[second][-1]
    assert approved["status"] == "ok" and approved["review"]["decision"] == "approved"
    assert " ".join(approved["text"].split()) == " ".join(draft.split())
    assert rejected["status"] == "rejected" and "not answered in writing" in rejected["reason"]
    assert all(len(v) == 2 for v in found.values())


def test_a_code_request_is_validated_in_the_sandbox_and_never_answered_ok_unchecked(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    """The tiny random model writes no valid Python: the worker checks it, tries again with the errors, and sends
    the result to review with its validation, never `ok`."""
    request_id = f"{tenant}-code"
    tests = "def test_add():\n    assert add(2, 3) == 5\n"
    ask(
        bootstrap,
        [
            {
                "request_id": request_id,
                "tenant": tenant,
                "prompt": "write add(a, b)",
                "task": "code",
                "tests": tests,
                "max_tokens": 16,
            }
        ],
    )
    (first,) = responses(bootstrap, request_id, 1, timeout_s=180)[request_id]
    assert first["status"] == "pending_review", first
    validation = first["validation"]
    assert validation["passed"] is False and validation["attempts"] == settings.code_max_attempts
    assert validation["tests_source"] == "request" and validation["limits"]["processes"] == 0
    assert validation["limits"]["network"] is False  # the worker's sandbox could isolate the network
    api = IndexApi(str(sluice_up["api_url"]), token=reviewer(settings, tenant))
    (item,) = [i for i in queued(api, {request_id}) if i["request_id"] == request_id]
    assert item["rule_id"] == "code.validation_failed" and item["validation"] == validation
    events = wait_for(
        lambda: [e for e in audited(bootstrap, tenant, "request.answered") if e["subject_id"] == request_id]
    )
    facts = events[0]["details"]["validation"]
    assert facts["passed"] is False and facts["attempts"] == settings.code_max_attempts and "limits" not in facts
