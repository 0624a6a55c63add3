"""The explanation report: one self-contained HTML page (inline CSS, no script, every kept text escaped)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from models.explain import AGGREGATION, MAX_ANSWER_TOKENS, AttentionExplanation, Segment
from schemas.inference import RequestContext

# White to a deep blue for weights, white to orange for concentration: readable printed in grey too.
HEAT_RGB = (8, 69, 148)
FOCUS_RGB = (230, 85, 13)
TEXT_LIMIT = 4_000

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #1b1b1b; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
dl.header { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }
dl.header dt { font-weight: 600; } dl.header dd { margin: 0; }
.answer { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9; }
.tok { padding: 1px 0; border-radius: 2px; }
table.heatmap td.cell { text-align: right; font-variant-numeric: tabular-nums; min-width: 4.5em; }
code, .token { font-family: ui-monospace, monospace; white-space: pre; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; }
.record-text { white-space: pre-wrap; max-width: 60em; }
.legend span { display: inline-block; width: 3em; text-align: center; }
"""


def render_report(
    context: RequestContext, explanation: AttentionExplanation | None, *, notes: Sequence[str] = ()
) -> str:
    """The report page; without an explanation (no model answer to attribute) it says why in `notes`."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Explanation of {_e(context.request_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Explanation of request <code>{_e(context.request_id)}</code></h1>",
        _header(context, explanation),
    ]
    parts.extend(f'<p class="note">{_e(note)}</p>' for note in notes)
    if explanation is not None:
        parts.extend(_bounds_notes(explanation))
        parts.append(_answer(explanation))
        parts.append(_heatmap(explanation))
        parts.append(_top_tokens(explanation))
    else:
        parts.append(f'<h2>Answer</h2><p class="answer">{_e(context.answer) or "(empty)"}</p>')
    parts.append(_citations(context, explanation))
    parts.append(_method(explanation))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _header(context: RequestContext, explanation: AttentionExplanation | None) -> str:
    rows = [
        ("request id", context.request_id),
        ("tenant", context.tenant),
        ("session", context.session_id or "(one-turn)"),
        ("model", context.model),
        ("task", context.task),
        ("prompt template", context.template or "(none)"),
        ("status", context.status),
        ("kept at", context.kept_at.isoformat()),
        ("retrieved records", str(len(context.retrieved))),
    ]
    if explanation is not None:
        rows.append(("attention from", f"torch twin, {explanation.layers} layers × {explanation.heads} heads"))
    items = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows)
    return f'<dl class="header">{items}</dl>'


def _bounds_notes(explanation: AttentionExplanation) -> list[str]:
    bounds = explanation.bounds
    notes: list[str] = []
    if bounds.answer_tokens_kept < bounds.answer_tokens:
        notes.append(
            f"Only the first {bounds.answer_tokens_kept} of the answer's {bounds.answer_tokens} tokens are explained "
            f"(at most {bounds.max_answer_tokens}, within the model's {bounds.context_tokens}-token context)."
        )
    if bounds.prompt_tokens_kept < bounds.prompt_tokens:
        notes.append(
            f"The prompt's first {bounds.prompt_tokens - bounds.prompt_tokens_kept} of {bounds.prompt_tokens} tokens "
            f"were left out so that prompt and answer fit the model's {bounds.context_tokens}-token context."
        )
    return [f'<p class="note">{_e(note)}</p>' for note in notes]


def _answer(explanation: AttentionExplanation) -> str:
    spans = []
    for token in explanation.answer_tokens:
        colour = _mix(FOCUS_RGB, token.concentration)
        title = f"concentration {token.concentration:.2f}, prompt share {token.prompt_share:.0%}"
        if token.top:
            title += "; most attended: " + ", ".join(f"{_visible(t.text)} {t.weight:.1%}" for t in token.top[:3])
        spans.append(
            f'<span class="tok" data-concentration="{token.concentration:.4f}" style="background-color: {colour}" '
            f'title="{_e(title)}">{_e(token.text)}</span>'
        )
    legend = "".join(
        f'<span style="background-color: {_mix(FOCUS_RGB, level)}">{level:.2f}</span>' for level in (0, 0.25, 0.5, 1)
    )
    return (
        "<h2>Answer</h2>"
        "<p>Each token is coloured by how concentrated its attention on the prompt is "
        f'(white: spread evenly, orange: on few tokens). <span class="legend">{legend}</span></p>'
        f'<p class="answer" id="answer">{"".join(spans)}</p>'
    )


def _heatmap(explanation: AttentionExplanation) -> str:
    segments = explanation.segments
    shown = [i for i, segment in enumerate(segments) if segment.spans]
    peak = max((t.segment_weights[i] for t in explanation.answer_tokens for i in shown), default=0.0) or 1.0
    head = "".join(f'<th title="{_e(_segment_title(segments[i]))}">{_e(segments[i].label)}</th>' for i in shown)
    rows = []
    for token in explanation.answer_tokens:
        cells = []
        for i in shown:
            weight = token.segment_weights[i]
            level = weight / peak
            ink = "#fff" if level > 0.6 else "#1b1b1b"
            cells.append(
                f'<td class="cell" data-weight="{weight:.6f}" data-segment="{_e(segments[i].label)}" '
                f'style="background-color: {_mix(HEAT_RGB, level)}; color: {ink}">{weight:.1%}</td>'
            )
        rows.append(
            f'<tr><td>{token.index}</td><td class="token">{_e(_visible(token.text))}</td>'
            f"<td>{token.prompt_share:.0%}</td>{''.join(cells)}</tr>"
        )
    return (
        "<h2>Attention by prompt segment</h2>"
        "<p>Rows are answer tokens, columns the parts of the prompt; a cell is the share of the token's attention to "
        "the prompt that went to that part (each row sums to 100 %). Colour is relative to the darkest cell "
        f"({peak:.1%}). <em>prompt share</em>: its attention to the prompt rather than to earlier answer tokens.</p>"
        '<table class="heatmap" id="heatmap"><thead><tr><th>#</th><th>answer token</th><th>prompt share</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _top_tokens(explanation: AttentionExplanation) -> str:
    segments = explanation.segments
    rows = []
    for token in explanation.answer_tokens:
        listed = "; ".join(
            f'<span class="token">{_e(_visible(t.text))}</span> ({_e(segments[t.segment].label)}, '
            f"#{t.position}) {t.weight:.1%}"
            for t in token.top
        )
        rows.append(
            f'<tr><td>{token.index}</td><td class="token">{_e(_visible(token.text))}</td><td>{listed}</td></tr>'
        )
    return (
        "<h2>Most attended prompt tokens</h2>"
        '<table class="top-tokens" id="top-tokens"><thead><tr><th>#</th><th>answer token</th>'
        f"<th>prompt tokens, heaviest first (segment, position) weight</th></tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
    )


def _citations(context: RequestContext, explanation: AttentionExplanation | None) -> str:
    attention = {r.record_id: r for r in explanation.records} if explanation is not None else {}
    ranked = sorted(attention.values(), key=lambda r: -r.mass)
    rank = {r.record_id: number for number, r in enumerate(ranked, start=1)}
    rows = []
    for record in context.retrieved:
        found = attention.get(record.record_id)
        if found is None:
            mass = lift = place = "–"
        elif found.tokens == 0:
            mass, lift, place = "not in the prompt", "–", "–"
        else:
            mass, lift, place = f"{found.mass:.1%}", f"{found.lift:.2f}", str(rank[record.record_id])
        cited = "yes" if record.record_id in context.citations else "no"
        text = record.text if len(record.text) <= TEXT_LIMIT else record.text[:TEXT_LIMIT] + " …"
        score = "–" if record.score is None else f"{record.score:.3f}"
        rows.append(
            f'<tr data-record="{_e(record.record_id)}"><td><code>{_e(record.record_id)}</code></td><td>{cited}</td>'
            f"<td>{_e(mass)}</td><td>{_e(lift)}</td><td>{_e(place)}</td><td>{_e(score)}</td>"
            f'<td class="record-text">{_e(text)}</td></tr>'
        )
    unknown = [c for c in context.citations if c not in {r.record_id for r in context.retrieved}]
    extra = (
        f'<p class="note">Cited but not among the retrieved records: {_e(", ".join(unknown))}</p>' if unknown else ""
    )
    if not rows:
        return f"<h2>Citations and retrieved records</h2><p>No records were retrieved for this request.</p>{extra}"
    return (
        "<h2>Citations and retrieved records</h2>"
        f"<p>The answer cites {len(context.citations)} of {len(context.retrieved)} retrieved records "
        "(<em>cited</em>: the answer names it as [record_id]). <em>attention</em>: the record's share of the "
        "answer's attention to the prompt; <em>lift</em>: that share over the record's share of the prompt's tokens."
        "</p>"
        '<table class="citations" id="citations"><thead><tr><th>record</th><th>cited</th><th>attention</th>'
        "<th>lift</th><th>rank</th><th>search score</th><th>text (de-identified)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{extra}"
    )


def _method(explanation: AttentionExplanation | None) -> str:
    method = explanation.method if explanation is not None else AGGREGATION
    cap = explanation.bounds.max_answer_tokens if explanation is not None else MAX_ANSWER_TOKENS
    return (
        '<h2 id="method">Method</h2>'
        f"<p>{_e(method)}</p>"
        "<p>Only what Sluice kept is used: the request context on inference.context.v1 (the de-identified messages "
        "the model saw, the retrieved records and the answer as the client received it), rendered with the model's "
        "own chat template exactly as the generator rendered it and run once through the float32 torch model the "
        "served CTranslate2 version was converted from. The answer is re-tokenised from its kept text, so where "
        "de-identification replaced a name the tokens are those of the replacement. Prompt segments: each record "
        "(its [id] label and text inside the system message), the rest of the system message, earlier turns "
        "(history), the user message, and the chat template's own markup; a token belongs to the segment holding "
        f"most of its characters. Bounds: at most {cap} answer tokens; prompt and answer within the model's context."
        "</p>"
    )


def _segment_title(segment: Segment) -> str:
    return f"{segment.kind}: {segment.chars} characters of the prompt"


def _mix(rgb: tuple[int, int, int], level: float) -> str:
    level = min(1.0, max(0.0, level))
    r, g, b = (round(255 + (channel - 255) * level) for channel in rgb)
    return f"rgb({r}, {g}, {b})"


def _visible(text: str) -> str:
    """Token text with its whitespace made visible (a token is often just a space or a newline)."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
