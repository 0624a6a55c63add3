"""Human review from scripts: list and show pending items, approve, edit, reject or escalate one.

The same operations as the review console (GET /review), through the worker's API with a reviewer token
(`sluice tokens create --tenant T --reviewer`, passed as --token or SLUICE_API_TOKEN). The token decides who the
reviewer is and which tenant's items it sees; nothing on the command line can say otherwise.
"""

from __future__ import annotations

import json

import click

from agents.cli._base import cli_settings
from agents.cli.data import _api, _api_errors, token_option

TIMEOUT_S = 30.0


@click.group()
def review() -> None:
    """Requests waiting for a person: list, show, approve, edit, reject, escalate (console: /review)."""


@review.command("list")
@click.option("--tenant", default=None, help="Admin tokens only: one tenant's items (default: every tenant).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@token_option
def review_list(tenant: str | None, as_json: bool, token: str | None) -> None:
    """Pending items, escalated first, then oldest first."""
    with _api_errors("review list"):
        items = _api(cli_settings(), token, TIMEOUT_S).review_items(tenant)
    for item in items:
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            flag = "escalated" if item["escalated"] else ""
            click.echo(
                f"{item['request_id']:<24} {item['tenant']:<12} {item['rule_id']:<28} risk {item['risk_score']:.2f}  "
                f"expires {item['deadline_at']}  {flag}"
            )
    if not items and not as_json:
        click.echo("nothing is waiting for review", err=True)


@review.command("show")
@click.argument("request_id")
@click.option("--tenant", default=None, help="Admin tokens only: the item's tenant.")
@token_option
def review_show(request_id: str, tenant: str | None, token: str | None) -> None:
    """One item as JSON: the de-identified prompt, retrieved records, the draft, rule, risk and deadline."""
    with _api_errors("review show"):
        item = _api(cli_settings(), token, TIMEOUT_S).review_item(request_id, tenant)
    click.echo(json.dumps(item, ensure_ascii=False, indent=2))


def _decide(request_id: str, action: str, token: str | None, **fields: str | None) -> None:
    with _api_errors(f"review {action}"):
        reply = _api(cli_settings(), token, TIMEOUT_S).review_decide(request_id, action, **fields)
    click.echo(
        f"{action} of {reply['request_id']} ({reply['tenant']}) sent; the final response follows on its reply topic"
    )


@review.command("approve")
@click.argument("request_id")
@click.option("--tenant", default=None, help="Admin tokens only: the item's tenant.")
@token_option
def review_approve(request_id: str, tenant: str | None, token: str | None) -> None:
    """Send the model's draft to the client as it is."""
    _decide(request_id, "approve", token, tenant=tenant)


@review.command("edit")
@click.argument("request_id")
@click.option("--text", required=True, help="The answer the client gets instead of the draft (de-identified again).")
@click.option("--tenant", default=None, help="Admin tokens only: the item's tenant.")
@token_option
def review_edit(request_id: str, text: str, tenant: str | None, token: str | None) -> None:
    """Approve with your own text."""
    _decide(request_id, "edit", token, text=text, tenant=tenant)


@review.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why; the client is told.")
@click.option("--tenant", default=None, help="Admin tokens only: the item's tenant.")
@token_option
def review_reject(request_id: str, reason: str, tenant: str | None, token: str | None) -> None:
    """Answer the client `rejected` with the reason."""
    _decide(request_id, "reject", token, reason=reason, tenant=tenant)


@review.command("escalate")
@click.argument("request_id")
@click.option("--note", default=None, help="For the admin who decides next.")
@click.option("--tenant", default=None, help="Admin tokens only: the item's tenant.")
@token_option
def review_escalate(request_id: str, note: str | None, tenant: str | None, token: str | None) -> None:
    """Hand the item to an admin: from now on only an admin token decides it."""
    _decide(request_id, "escalate", token, reason=note, tenant=tenant)


COMMANDS: tuple[click.Command, ...] = (review,)
