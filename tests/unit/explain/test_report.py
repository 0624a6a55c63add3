"""The explanation report: self-contained, every kept text escaped, a heat map row per answer token."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.tools.explain import explain_context_html, render_report
from agents.tools.explain.build import default_report_path
from models.explain import (
    AnswerToken,
    AttendedToken,
    AttentionExplanation,
    Bounds,
    PromptToken,
    RecordAttention,
    Segment,
)
from schemas.inference import ContextMessage, KeptRecord, RequestContext

HOSTILE = "<script>alert('x')</script> & \"quoted\""


def context(**fields: object) -> RequestContext:
    data: dict[str, object] = {
        "request_id": "req-1",
        "tenant": "acme",
        "session_id": "s-1",
        "task": "chat",
        "model": "tiny-llama@v1",
        "template": "chat-default@1.0.0",
        "messages": [ContextMessage(role="system", content=f"Records: [rec-1] {HOSTILE}")],
        "retrieved": [KeptRecord(record_id="rec-1", text=HOSTILE, score=0.8), KeptRecord(record_id="rec-2", text="b")],
        "answer": "Yes <b>[rec-1]</b>",
        "citations": ["rec-1"],
        "status": "ok",
        "kept_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    data.update(fields)
    return RequestContext.model_validate(data)


def explanation() -> AttentionExplanation:
    segments = (
        Segment("record", "record rec-1", ((0, 10),), "rec-1"),
        Segment("record", "record rec-2", (), "rec-2"),
        Segment("user", "user message", ((10, 20),)),
        Segment("template", "template", ((20, 30),)),
    )
    prompt_tokens = (
        PromptToken(0, "<s>", 3),
        PromptToken(1, "<script>", 0),
        PromptToken(2, "hi", 2),
    )
    answer = [("Yes", (0.7, 0.0, 0.2, 0.1)), (" <b>", (0.1, 0.0, 0.8, 0.1)), ("[rec-1]", (0.5, 0.0, 0.25, 0.25))]
    tokens = tuple(
        AnswerToken(
            index=i,
            text=text,
            segment_weights=weights,
            top=(AttendedToken(1, "<script>", 0, 0.6), AttendedToken(2, "hi", 2, 0.4)),
            concentration=0.1 * (i + 1),
            prompt_share=0.9,
        )
        for i, (text, weights) in enumerate(answer)
    )
    return AttentionExplanation(
        prompt="x" * 30,
        segments=segments,
        prompt_tokens=prompt_tokens,
        answer_tokens=tokens,
        records=(RecordAttention("rec-1", 0.43, 5, 2.1), RecordAttention("rec-2", 0.0, 0, 0.0)),
        layers=2,
        heads=4,
        bounds=Bounds(9, 3, 3, 3, 3, 2048),
    )


def test_kept_text_is_escaped_everywhere() -> None:
    page = render_report(context(), explanation())
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "&lt;b&gt;" in page


def test_the_page_needs_nothing_from_outside() -> None:
    page = render_report(context(), explanation())
    assert re.search(r"<(script|link|img|iframe)\b", page) is None
    assert "http://" not in page and "https://" not in page
    assert "<style>" in page


def test_the_heat_map_has_a_row_per_answer_token_and_a_column_per_shown_segment() -> None:
    page = render_report(context(), explanation())
    heatmap = page[page.index('id="heatmap"') : page.index("</table>", page.index('id="heatmap"'))]
    assert heatmap.count("<tr>") == 1 + 3  # header + answer tokens
    weights = re.findall(r'data-weight="([0-9.]+)"', heatmap)
    assert len(weights) == 3 * 3  # rec-2 is not in the prompt: no column
    assert float(weights[0]) == pytest.approx(0.7)
    colours = set(re.findall(r"background-color: (rgb\([^)]*\))", heatmap))
    assert len(colours) > 3


def test_citations_show_what_the_answer_cites_and_what_it_attended() -> None:
    page = render_report(context(), explanation())
    rows = dict(re.findall(r'<tr data-record="([^"]+)">(.*?)</tr>', page))
    assert "<td>yes</td>" in rows["rec-1"] and "43.0%" in rows["rec-1"] and "2.10" in rows["rec-1"]
    assert "<td>no</td>" in rows["rec-2"] and "not in the prompt" in rows["rec-2"]


def test_cuts_are_said_and_the_method_is_explained() -> None:
    page = render_report(context(), explanation())
    assert "Only the first 3 of the answer&#x27;s 9 tokens are explained" in page
    assert 'id="method"' in page and "attention sink" in page


def test_a_policy_answer_is_reported_without_attention(tmp_path: Path) -> None:
    page = explain_context_html(tmp_path, context(model="policy"))
    assert "No model attention" in page and 'id="heatmap"' not in page
    assert "Yes &lt;b&gt;[rec-1]&lt;/b&gt;" in page


def test_an_empty_answer_is_reported_without_attention(tmp_path: Path) -> None:
    page = explain_context_html(tmp_path, context(answer="", status="timeout"))
    assert "No answer to explain (status timeout)" in page


def test_the_default_report_path_is_one_safe_file_name(tmp_path: Path) -> None:
    from agents.core.settings import load_settings

    settings = load_settings(var_dir=tmp_path)
    path = default_report_path(settings, "acme", "../../etc/passwd")
    assert path.parent == tmp_path / "explain"
    assert path.name == "acme-.._.._etc_passwd.html"
