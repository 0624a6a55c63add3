"""Rule packs: publish one on rules.v1, and show which packs are in force (the topic folded over the bundled)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click

from agents.cli._base import cli_settings
from agents.core.messages import SourcePosition
from agents.core.packs import PACK_KINDS, PACK_PARSERS, check_publishable, decode_pack_message
from schemas.records import RulePackMessage


class Pack(Protocol):
    """What a cleaning pack and a policy pack have in common here."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def priority(self) -> int: ...


@dataclass(frozen=True)
class PackInForce:
    """A pack workers apply: from rules.v1 (`offset` set) or bundled and never replaced there (`offset` None)."""

    kind: str
    pack: Pack
    partition: int | None = None
    offset: int | None = None

    @property
    def bundled(self) -> bool:
        return self.offset is None

    def to_json(self) -> dict[str, Any]:
        where = {} if self.bundled else {"partition": self.partition, "offset": self.offset}
        return {"kind": self.kind, "name": self.pack.name, "version": self.pack.version, **where}


@dataclass(frozen=True)
class PackRemoved:
    """A pack the topic removed (a tombstone or `pack: null`) and nothing put back since."""

    kind: str
    name: str
    partition: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True)
class PackRejected:
    """A message workers dead-letter and otherwise ignore: what they had stays in force."""

    partition: int
    offset: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"partition": self.partition, "offset": self.offset, "error": self.error}


@dataclass(frozen=True)
class RulesInForce:
    """Every pack a worker starting now would apply, per kind in application order, and how rules.v1 got there."""

    packs: tuple[PackInForce, ...]
    removed: tuple[PackRemoved, ...]
    rejected: tuple[PackRejected, ...]

    def of_kind(self, kind: str) -> list[Any]:
        """The packs of one kind in force, as that kind's parser made them (for its engine)."""
        return [entry.pack for entry in self.packs if entry.kind == kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "live": [entry.to_json() for entry in self.packs if not entry.bundled],
            "bundled_in_force": [entry.to_json() for entry in self.packs if entry.bundled],
            "removed": [entry.to_json() for entry in self.removed],
            "rejected": [entry.to_json() for entry in self.rejected],
        }


def fold_rules(
    records: Iterable[SourcePosition],
    *,
    bundled: Mapping[str, Iterable[Pack]],
    parsers: Mapping[str, Callable[[Mapping[str, Any]], Pack]],
    max_bytes: int,
) -> RulesInForce:
    """Fold rules.v1 as workers do: start from the bundled packs, then per pack (kind and name) the latest
    message wins; a tombstone or `pack: null` removes the pack (a bundled one too); a message workers would
    reject (bad JSON, schema, pack, or a name that differs from its pack's) changes nothing."""
    state: dict[tuple[str, str], PackInForce | PackRemoved] = {
        (kind, pack.name): PackInForce(kind, pack) for kind, packs in bundled.items() for pack in packs
    }
    rejected: list[PackRejected] = []
    for record in records:
        try:
            change = decode_pack_message(record.key, record.value, max_bytes=max_bytes, parsers=parsers)
        except Exception as exc:  # whatever a worker's listener dead-letters
            rejected.append(PackRejected(record.partition, record.offset, str(exc)))
            continue
        if change is None:
            continue  # a key or kind no worker applies
        where = (change.kind, change.name)
        if change.pack is None:
            state[where] = PackRemoved(change.kind, change.name, record.partition, record.offset)
        else:
            state[where] = PackInForce(change.kind, change.pack, record.partition, record.offset)
    in_force = [entry for entry in state.values() if isinstance(entry, PackInForce)]
    in_force.sort(key=lambda entry: (PACK_KINDS.index(entry.kind), entry.pack.priority, entry.pack.name))
    removed = sorted(
        (entry for entry in state.values() if isinstance(entry, PackRemoved)), key=lambda e: (e.kind, e.name)
    )
    return RulesInForce(tuple(in_force), tuple(removed), tuple(rejected))


def _where(topic: str, partition: int | None, offset: int | None) -> str:
    return f"{topic} offset {offset}" if not partition else f"{topic} partition {partition} offset {offset}"


def render_rules(rules: RulesInForce, topic: str, versions: Mapping[str, str]) -> list[str]:
    """`sluice rules show` as text: one line per pack in force, then what the topic removed or rejected."""
    lines = []
    for entry in rules.packs:
        source = (
            f"bundled (nothing on {topic} replaced it)"
            if entry.bundled
            else _where(topic, entry.partition, entry.offset)
        )
        lines.append(f"{entry.kind:<9} {entry.pack.name:<20} {entry.pack.version:<12} {source}")
    for removed in rules.removed:
        lines.append(f"removed   {removed.kind} {removed.name} at {_where(topic, removed.partition, removed.offset)}")
    for rejected in rules.rejected:
        where = _where(topic, rejected.partition, rejected.offset)
        lines.append(f"rejected  {where}: {rejected.error} (workers ignored it)")
    lines.extend(f"in force  {kind:<9} {version or '-'}" for kind, version in versions.items())
    return lines


@click.group()
def rules() -> None:
    """Cleaning and policy packs on rules.v1."""


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
    from topics.specs import RULES

    settings = cli_settings()
    parse = RulePack.from_yaml if kind == "cleaning" else PolicyPack.from_yaml
    try:
        pack = parse(pack_file.read_text(encoding="utf-8"))
        check_publishable(kind, pack)  # what every worker would refuse on arrival (a weakened base pack, …)
    except ValueError as exc:  # RulePackError, PolicyError
        raise click.ClickException(str(exc)) from None
    message = RulePackMessage(name=pack.name, kind=kind, pack=pack.to_mapping())  # type: ignore[arg-type]
    producer = Producer({**settings.kafka_client_config(), "bootstrap.servers": resolve_bootstrap_servers(settings)})
    producer.produce(RULES.name, key=message.key.encode(), value=message.model_dump_json().encode())
    if producer.flush(30):
        raise click.ClickException("the pack was not acknowledged by Kafka within 30 s")
    click.echo(f"published {pack.name}@{pack.version} on {RULES.name}")


@rules.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rules_show(as_json: bool) -> None:
    """Show the packs in force: live on rules.v1, or bundled and not replaced there."""
    from confluent_kafka import KafkaError, KafkaException

    from agents.core.kafka_io import read_topic
    from agents.processes.broker import resolve_bootstrap_servers
    from models.cleaning import RuleEngine, load_bundled_packs
    from models.dialog import PolicyEngine, load_default_policy
    from topics.specs import RULES

    settings = cli_settings()
    bootstrap = resolve_bootstrap_servers(settings)
    # Quiet librdkafka: an unreachable broker is the one line below, not a screen of connection retries.
    options = {"log_level": "0", **settings.kafka_client_config()}
    try:
        records = list(read_topic(bootstrap, RULES.name, options=options))
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        reason = error.str() if isinstance(error, KafkaError) else str(exc)
        raise click.ClickException(f"cannot read {RULES.name} from {bootstrap}: {reason}") from None
    # Workers start from these (agents/processes/roles.py) and apply rules.v1 on top.
    in_force = fold_rules(
        records,
        bundled={"cleaning": load_bundled_packs(), "policy": [load_default_policy()]},
        parsers=PACK_PARSERS,
        max_bytes=settings.max_message_bytes,
    )
    versions = {
        "cleaning": RuleEngine(in_force.of_kind("cleaning")).version,
        "policy": PolicyEngine(in_force.of_kind("policy")).version,
    }
    if as_json:
        click.echo(json.dumps({"topic": RULES.name, **in_force.to_json(), "versions": versions}, indent=2))
    else:
        click.echo("\n".join(render_rules(in_force, RULES.name, versions)))


COMMANDS: tuple[click.Command, ...] = (rules,)
