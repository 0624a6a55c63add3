"""Tenants of the secured broker: `sluice tenants add NAME` and `sluice tenants list`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from agents.cli._base import cli_settings

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from agents.core.settings import Settings


@click.group()
def tenants() -> None:
    """Tenant principals with their own request and reply topics (secure mode, `sluice up --secure`)."""


def _admin() -> tuple[Settings, AdminClient]:
    from agents.processes.broker import resolve_bootstrap_servers
    from topics.admin import admin_client

    settings = cli_settings()
    if not settings.secure:
        raise click.ClickException(
            "tenants are principals of the secured local broker: run `sluice up --secure` first "
            "(in plain mode anyone may write inference.requests.v1 under any tenant name)"
        )
    return settings, admin_client(resolve_bootstrap_servers(settings), settings.kafka_client_config())


@tenants.command("add")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tenants_add(name: str, as_json: bool) -> None:
    """Create tenant NAME: principal tenant-NAME (SCRAM-SHA-512, password generated once), its request and reply
    topics, and ACLs so that it alone writes the one and reads the other. Running it again changes nothing.

    The inference worker subscribes to a new tenant's topic within a minute (it restarts itself to do so)."""
    from agents.processes.access import add_tenant

    settings, admin = _admin()
    added = add_tenant(settings, admin, name)
    ca = settings.kafka_security().ca_location
    facts = {
        "tenant": added.tenant,
        "principal": added.principal,
        "password_file": added.password_file,
        "ca_location": str(ca),
        "request_topic": added.request_topic,
        "response_topic": added.response_topic,
        "group_prefix": added.group_prefix,
        "topics": {outcome.topic: outcome.action for outcome in added.topics},
    }
    if as_json:
        click.echo(json.dumps(facts))
        return
    click.echo(f"tenant {added.tenant}: principal {added.principal} (SASL_SSL, SCRAM-SHA-512)")
    click.echo(f"  password       in {added.password_file} (hand it to the tenant; it is never printed)")
    click.echo(f"  CA certificate {ca}")
    click.echo(f"  writes         {added.request_topic}")
    click.echo(f"  reads          {added.response_topic}, in consumer groups named {added.group_prefix}…")


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tenants_list(as_json: bool) -> None:
    """Tenants on the secured broker, their principal and topics."""
    from agents.processes.access import tenant_principal, tenants_on
    from topics.specs import tenant_request_topic, tenant_response_topic

    _, admin = _admin()
    rows = [
        {
            "tenant": tenant,
            "principal": tenant_principal(tenant),
            "request_topic": tenant_request_topic(tenant).name,
            "response_topic": tenant_response_topic(tenant).name,
        }
        for tenant in tenants_on(admin)
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(f"{row['tenant']:<24} {row['principal']:<31} {row['request_topic']}  {row['response_topic']}")


COMMANDS: tuple[click.Command, ...] = (tenants,)
