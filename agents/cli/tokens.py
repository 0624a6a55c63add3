"""API tokens: create one for a tenant (or a service or admin token), list them, revoke one.

The store is a file (SLUICE_API_TOKENS_FILE, default var/secrets/api-tokens.json) holding digests only; the worker
re-reads it when it changes, so these commands need no running worker and a revocation needs no restart.
"""

from __future__ import annotations

import json

import click

from agents.cli._base import cli_settings


@click.group()
def tokens() -> None:
    """Bearer tokens for the worker's HTTP API (search, records, forget, metrics, review)."""


@tokens.command("create")
@click.option("--tenant", default=None, help="The one tenant the token sees.")
@click.option("--service", is_flag=True, help="A service token instead: it names the tenant on every call.")
@click.option("--admin", is_flag=True, help="An admin token instead: /metrics and escalated reviews, no data.")
@click.option(
    "--reviewer", is_flag=True, help="With --tenant: a reviewer of that tenant's review queue instead (no data access)."
)
@click.option("--name", default="", help="What the token is for (shown by `sluice tokens list`).")
@click.option("--json", "as_json", is_flag=True, help="The token and its entry as JSON.")
def tokens_create(tenant: str | None, service: bool, admin: bool, reviewer: bool, name: str, as_json: bool) -> None:
    """Create a token and print it: this is the only time it is shown (the store keeps its SHA-256).

    The token alone goes to stdout, so `export SLUICE_API_TOKEN=$(sluice tokens create --tenant acme)` works.
    """
    from agents.api.tokens import TokenKind, TokenStore

    if (tenant is not None) + service + admin != 1:
        raise click.UsageError("give exactly one of --tenant TENANT, --service, --admin")
    if reviewer and tenant is None:
        raise click.UsageError("--reviewer needs --tenant TENANT: a reviewer decides one tenant's review queue")
    kind: TokenKind = "service" if service else "admin" if admin else "reviewer" if reviewer else "tenant"
    issued = TokenStore(cli_settings().resolved_api_tokens_file).create(kind, tenant=tenant, name=name)
    if as_json:
        click.echo(json.dumps({"token": issued.token, **issued.entry.listed()}))
        return
    click.echo(issued.token)
    scope = f"tenant {tenant}" if kind == "tenant" else f"reviewer of tenant {tenant}" if tenant else f"{kind} token"
    click.echo(f"created API token {issued.entry.token_id} ({scope}); it is shown only this once", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def tokens_list(as_json: bool) -> None:
    """Every token's id, kind, tenant, name, and when it was created and revoked (never the token)."""
    from agents.api.tokens import TokenStore

    entries = TokenStore(cli_settings().resolved_api_tokens_file).entries().values()
    for entry in entries:
        if as_json:
            click.echo(json.dumps(entry.listed()))
        else:
            state = f"revoked {entry.revoked_at}" if entry.revoked_at else "active"
            click.echo(
                f"{entry.token_id}  {entry.kind:<7}  {entry.tenant or '-':<20}  {entry.name or '-':<20}  "
                f"created {entry.created_at}  {state}"
            )
    if not entries and not as_json:
        click.echo("no API tokens: `sluice tokens create --tenant TENANT` makes one", err=True)


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke the token TOKEN_ID: every worker refuses it from its next request on."""
    from agents.api.tokens import TokenStore

    entry = TokenStore(cli_settings().resolved_api_tokens_file).revoke(token_id)
    click.echo(f"revoked API token {entry.token_id} at {entry.revoked_at}")


COMMANDS: tuple[click.Command, ...] = (tokens,)
