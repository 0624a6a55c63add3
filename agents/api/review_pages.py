"""The review console's HTML: a sign-in form, the open queue, one item with its context and the decision forms.

Plain server-rendered pages with inline CSS and no script, so they work in any browser and every value is escaped
in one place (`_e`). Everything shown is de-identified: prompts, records and drafts as Sluice kept them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import urlencode

from agents.api.auth import Principal
from schemas.review import ReviewItem

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#1d2330}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #dde;padding:.4rem;text-align:left}
.risk-high{color:#a40000;font-weight:600} .escalated{background:#fff4d6}
pre{white-space:pre-wrap;background:#f5f6fa;padding:.7rem;border-radius:4px}
form.decision{display:inline-block;margin:.4rem .8rem .4rem 0;vertical-align:top}
textarea{width:32rem;height:6rem} .notice{background:#e8f5e9;padding:.5rem} .error{background:#fdecea;padding:.5rem}
"""


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


_e = escape


def page(title: str, body: str, *, principal: Principal | None = None, csrf: str | None = None) -> str:
    who = ""
    if principal is not None and csrf is not None:
        scope = f"reviewer of {principal.tenant}" if principal.kind == "reviewer" else "admin (every tenant)"
        who = (
            f'<p>Signed in as token <code data-testid="reviewer">{_e(principal.token_id)}</code>, {_e(scope)}. '
            f'<form method="post" action="/review/logout" style="display:inline">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}"><button>Sign out</button></form></p>'
        )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>{who}{body}</body></html>"
    )


def login_page(error: str | None = None) -> str:
    message = f'<p class="error" data-testid="error">{_e(error)}</p>' if error else ""
    body = (
        f"{message}<p>Sign in with a reviewer token (<code>sluice tokens create --tenant TENANT --reviewer</code>) "
        "or an admin token. The token is kept in a cookie for this site only.</p>"
        '<form method="post" action="/review/login"><input type="password" name="token" size="70" '
        'autocomplete="off" data-testid="token"> <button data-testid="sign-in">Sign in</button></form>'
    )
    return page("Sluice review — sign in", body)


def _item_link(item: ReviewItem) -> str:
    return "/review/item?" + urlencode({"tenant": item.tenant, "id": item.request_id})


def queue_page(principal: Principal, csrf: str, items: Sequence[ReviewItem], notice: str | None = None) -> str:
    rows = []
    for item in items:
        risk = "risk-high" if item.risk_score >= 0.7 else ""
        row_class = "escalated" if item.escalated else ""
        rows.append(
            f'<tr class="{row_class}" data-testid="item" data-request-id="{_e(item.request_id)}">'
            f'<td><a href="{_e(_item_link(item))}">{_e(item.request_id)}</a></td><td>{_e(item.tenant)}</td>'
            f'<td>{_e(item.task)}</td><td>{_e(item.rule_id)}</td><td class="{risk}">{item.risk_score:.2f}</td>'
            f"<td>{_e(item.queued_at.isoformat(timespec='seconds'))}</td>"
            f"<td>{_e(item.deadline_at.isoformat(timespec='seconds'))}</td>"
            f"<td>{'escalated' if item.escalated else ''}</td></tr>"
        )
    table = (
        "<table><tr><th>request</th><th>tenant</th><th>task</th><th>rule</th><th>risk</th><th>queued</th>"
        f"<th>expires</th><th></th></tr>{''.join(rows)}</table>"
        if rows
        else '<p data-testid="empty">Nothing is waiting for review.</p>'
    )
    shown = f'<p class="notice" data-testid="notice">{_e(notice)}</p>' if notice else ""
    return page("Sluice review — pending", shown + table, principal=principal, csrf=csrf)


def item_page(principal: Principal, csrf: str, item: ReviewItem, *, explain: bool, error: str | None = None) -> str:
    records = "".join(
        f"<li><code>{_e(r.record_id)}</code>{f' (score {r.score:.2f})' if r.score is not None else ''}"
        f"<pre>{_e(r.text)}</pre></li>"
        for r in item.retrieved
    )
    draft = (
        f'<pre data-testid="draft">{_e(item.draft)}</pre><p>Model {_e(item.draft_model)} '
        f"(variant {_e(item.draft_variant)}), cites {_e(', '.join(item.citations) or 'no record')}.</p>"
        if item.draft is not None
        else "<p>No draft: this rule sends prompts to review before the model answers. Write the answer below.</p>"
    )
    validation = ""
    if item.validation is not None:
        v = item.validation
        validation = (
            f"<h2>Code validation</h2><p>passed: {v.passed}; syntax ok: {v.syntax_ok}; lint errors: "
            f"{len(v.lint_errors)}; tests passed {v.tests_passed}, failed {v.tests_failed} ({_e(v.tests_source)}); "
            f"attempts: {v.attempts}; sandbox violation: {_e(v.sandbox_violation or 'none')}</p>"
            f"<pre>{_e(chr(10).join([*((v.syntax_error and [v.syntax_error]) or []), *v.lint_errors, *v.test_errors]))}"
            "</pre>"
        )
    escalation = (
        f'<p class="notice">Escalated by token {_e(item.escalated_by)}: {_e(item.escalation_note or "no note")}</p>'
        if item.escalated
        else ""
    )
    explain_url = "/review/explain?" + urlencode({"tenant": item.tenant, "id": item.request_id})
    explain_link = (
        f'<p><a data-testid="explain" href="{_e(explain_url)}">Explain the draft (attention report)</a></p>'
        if explain and item.draft is not None
        else ""
    )
    hidden = (
        f'<input type="hidden" name="csrf" value="{_e(csrf)}"><input type="hidden" name="tenant" '
        f'value="{_e(item.tenant)}"><input type="hidden" name="request_id" value="{_e(item.request_id)}">'
    )
    forms = (
        f'<form class="decision" method="post" action="/review/decide">{hidden}'
        '<input type="hidden" name="action" value="approve"><button data-testid="approve"'
        f"{' disabled' if item.draft is None else ''}>Approve the draft</button></form>"
        f'<form class="decision" method="post" action="/review/decide">{hidden}'
        '<input type="hidden" name="action" value="edit"><textarea name="text" data-testid="edit-text">'
        f'{_e(item.draft or "")}</textarea><br><button data-testid="edit">Approve as edited</button></form>'
        f'<form class="decision" method="post" action="/review/decide">{hidden}'
        '<input type="hidden" name="action" value="reject"><input name="reason" size="40" placeholder="reason" '
        'data-testid="reject-reason"> <button data-testid="reject">Reject</button></form>'
        f'<form class="decision" method="post" action="/review/decide">{hidden}'
        '<input type="hidden" name="action" value="escalate"><input name="reason" size="30" placeholder="note" '
        'data-testid="escalate-note"> <button data-testid="escalate">Escalate to an admin</button></form>'
    )
    message = f'<p class="error" data-testid="error">{_e(error)}</p>' if error else ""
    body = (
        f'{message}{escalation}<p><a href="/review">← all pending</a></p>'
        f"<p>Tenant <b>{_e(item.tenant)}</b>, session {_e(item.session_id or '-')}, task {_e(item.task)}. "
        f"Rule <code>{_e(item.rule_id)}</code>: {_e(item.reason.rstrip('.'))}. Risk {item.risk_score:.2f}. "
        f"Expires {_e(item.deadline_at.isoformat(timespec='seconds'))}; the answer goes to "
        f"<code>{_e(item.reply_to)}</code>.</p>"
        f'<h2>Prompt (de-identified)</h2><pre data-testid="prompt">{_e(item.prompt)}</pre>'
        f"<h2>Retrieved records</h2>{f'<ol>{records}</ol>' if records else '<p>None were retrieved.</p>'}"
        f"<h2>Draft answer</h2>{draft}{validation}{explain_link}<h2>Decide</h2>{forms}"
    )
    return page(f"Review {item.request_id}", body, principal=principal, csrf=csrf)
