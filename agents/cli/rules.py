"""Rule packs: validate and publish one on rules.v1, show the bundled packs."""

from __future__ import annotations

from pathlib import Path

import click

from agents.cli._base import cli_settings


@click.group()
def rules() -> None:
    """Cleaning rule packs."""


@rules.command("publish")
@click.argument("pack_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["cleaning", "policy"]),
    default="cleaning",
    show_default=True,
    help="cleaning = text rules of the ingest flow; policy = answer/reject/review rules of inference.",
)
def rules_publish(pack_file: Path, kind: str) -> None:
    """Validate a YAML pack and publish it on rules.v1; running workers apply it without a restart."""
    from confluent_kafka import Producer

    from agents.processes.broker import resolve_bootstrap_servers
    from models.cleaning import RulePack
    from models.dialog import PolicyPack
    from schemas.records import RulePackMessage
    from topics.specs import RULES

    settings = cli_settings()
    parse = RulePack.from_yaml if kind == "cleaning" else PolicyPack.from_yaml
    try:
        pack = parse(pack_file.read_text(encoding="utf-8"))
    except ValueError as exc:  # RulePackError, PolicyError
        raise click.ClickException(str(exc)) from None
    message = RulePackMessage(name=pack.name, kind=kind, pack=pack.to_mapping())  # type: ignore[arg-type]
    producer = Producer({**settings.kafka_options, "bootstrap.servers": resolve_bootstrap_servers(settings)})
    producer.produce(RULES.name, key=message.key.encode(), value=message.model_dump_json().encode())
    if producer.flush(30):
        raise click.ClickException("the pack was not acknowledged by Kafka within 30 s")
    click.echo(f"published {pack.name}@{pack.version} on {RULES.name}")


@rules.command("show")
def rules_show() -> None:
    """Print the bundled rule packs and their versions."""
    from models.cleaning import RuleEngine, load_bundled_packs

    click.echo(RuleEngine(load_bundled_packs()).version)


COMMANDS: tuple[click.Command, ...] = (rules,)
