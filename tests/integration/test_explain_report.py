"""An explanation report in a real browser: built from a kept context and the tiny model's torch twin, no Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.tools.explain import explain_context_html
from models.dialog import RetrievedRecord, load_templates
from schemas.inference import ContextMessage, KeptRecord, RequestContext
from tests.integration.browser import screenshot
from tests.integration.conftest import TEST_MODELS

HOSTILE = "Refunds take 7 days. <script>document.title = 'owned'</script>"


def kept_context(version: str) -> RequestContext:
    """What the inference worker keeps for a chat answer with two retrieved records and one earlier exchange."""
    records = [
        KeptRecord(record_id="crm-0042", text=HOSTILE, score=0.91),
        KeptRecord(record_id="erp-0007", text="Order 7 shipped from Ningbo on 3 May.", score=0.55),
    ]
    system = load_templates()["chat-default"].render(
        "acme", [RetrievedRecord(r.record_id, r.text, r.score or 0.0) for r in records]
    )
    messages = [
        ContextMessage(role="system", content=system),
        ContextMessage(role="user", content="Hello"),
        ContextMessage(role="assistant", content="Hello, how can I help?"),
        ContextMessage(role="user", content="How long do refunds take?"),
    ]
    return RequestContext(
        request_id="req-explain-1",
        tenant="acme",
        session_id="s-1",
        task="chat",
        model=f"tiny-llama@{version}",
        template="chat-default@1.0.0",
        messages=messages,
        retrieved=records,
        answer="Refunds take 7 days [crm-0042].",
        citations=["crm-0042"],
        status="ok",
        kept_at=datetime.now(UTC),
    )


def test_the_report_shows_a_heat_map_row_per_answer_token(browser: Any, tiny_generator: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from models.explain import AttentionModel
    from models.registry import torch_twin_dir

    context = kept_context(tiny_generator)
    page = tmp_path / "report.html"
    page.write_text(explain_context_html(TEST_MODELS / "registry", context), encoding="utf-8")

    browser.get(page.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#heatmap tbody tr")
    twin = AttentionModel(torch_twin_dir(TEST_MODELS / "registry", "tiny-llama", tiny_generator))
    expected = twin.explain(
        task="chat",
        messages=[m.model_dump() for m in context.messages],
        records=context.retrieved,
        answer=context.answer,
    )
    assert len(rows) == len(expected.answer_tokens) > 1

    cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")
    colours = {cell.value_of_css_property("background-color") for cell in cells}
    weights = [float(cell.get_attribute("data-weight")) for cell in cells]
    assert len(colours) > 1 and max(weights) > min(weights)
    # The record's <script> is text on the page, not a script that ran.
    assert browser.title.startswith("Explanation of")
    assert "<script>" in browser.find_element(By.CSS_SELECTOR, '#citations tr[data-record="crm-0042"]').text

    # A second report of the same version (the review console's next request) reuses the loaded twin.
    said: list[str] = []
    assert 'id="heatmap"' in explain_context_html(TEST_MODELS / "registry", context, progress=said.append)
    assert said and not any(message.startswith("loading") for message in said)

    shot = screenshot(browser, "explain-report")
    assert shot.is_file() and shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
