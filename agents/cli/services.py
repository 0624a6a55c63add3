"""Running Sluice: settings, the local broker, topics and schemas, workers, and `sluice up/down/status`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agents.cli._base import cli_settings


@click.command()
def config() -> None:
    """Print the effective settings (secrets hidden)."""
    click.echo(json.dumps(cli_settings().redacted(), indent=2, ensure_ascii=False, default=str))


# --- broker -------------------------------------------------------------------------------------------
@click.group()
def broker() -> None:
    """The local single-node Apache Kafka (KRaft) broker."""


SECURE_HELP = (
    "SASL/SCRAM-SHA-512 over TLS with ACLs and one principal per role (also SLUICE_SECURE=true); "
    "later commands follow a secured broker by themselves."
)


@broker.command("up")
@click.option("--secure", is_flag=True, help=SECURE_HELP)
def broker_up(secure: bool) -> None:
    """Start the local broker (assembling it from Maven artifacts the first time)."""
    from agents.processes.broker import LocalBroker

    settings = cli_settings(secure=secure)
    if settings.kafka_bootstrap_servers:
        click.echo(f"KAFKA_BOOTSTRAP_SERVERS is set ({settings.kafka_bootstrap_servers}): nothing to start")
        return
    state = LocalBroker(settings).up()
    click.echo(f"broker running on {state.bootstrap_servers} (pid {state.pid})")


@broker.command("assemble")
def broker_assemble() -> None:
    """Resolve the Kafka jars from Maven into the cache (no-op when done); `make` runs it."""
    from agents.processes.broker import LocalBroker

    local = LocalBroker(cli_settings())
    local.ensure_artifacts()
    click.echo(f"kafka artifacts ready: {local.libs}")


@broker.command("down")
def broker_down() -> None:
    """Stop the local broker."""
    from agents.processes.broker import LocalBroker

    stopped = LocalBroker(cli_settings()).down()
    click.echo("broker stopped" if stopped else "broker was not running")


@broker.command("status")
def broker_status() -> None:
    """Say whether the local broker runs, and where."""
    from agents.processes.broker import LocalBroker

    state = LocalBroker(cli_settings()).state()
    if state is None:
        click.echo("broker not running")
        sys.exit(3)
    click.echo(f"broker running on {state.bootstrap_servers} (pid {state.pid})")


# --- topics and schemas ----------------------------------------------------------------------------
@click.group()
def topics() -> None:
    """Declared Kafka topics."""


@topics.command("apply")
def topics_apply() -> None:
    """Create missing topics and align configs with topics/specs.py (idempotent)."""
    from agents.processes.broker import resolve_bootstrap_servers
    from agents.processes.runtime import apply_declared_topics

    settings = cli_settings()
    for outcome in apply_declared_topics(settings, resolve_bootstrap_servers(settings)):
        click.echo(f"{outcome.topic:<26} {outcome.action:<8} partitions={outcome.partitions}")


@topics.command("list")
def topics_list() -> None:
    """Print the declared topics and their contracts."""
    from topics.specs import ALL_TOPICS

    for spec in ALL_TOPICS:
        pii = "raw PII possible" if spec.holds_raw_pii else "no raw PII"
        click.echo(f"{spec.name:<26} key={spec.key:<10} {spec.cleanup_policy:<7} {pii:<17} {spec.description}")


@click.group()
def schemas() -> None:
    """JSON Schemas of every topic."""


@schemas.command("export")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Default: schemas/json/")
def schemas_export(out_dir: Path | None) -> None:
    """Write one JSON Schema file per topic."""
    from topics.export import SCHEMA_DIR, export_schemas

    for path in export_schemas(out_dir or SCHEMA_DIR):
        click.echo(str(path))


# --- processes ---------------------------------------------------------------------------------------
@click.command()
@click.option(
    "--role",
    type=click.Choice(["all", "deidentify", "index", "inference", "audit"]),
    default="all",
    help="deidentify = normalise/clean/de-identify (scale out); index = embed, store and serve the API; "
    "audit = seal audit events into the hash chain; all = those three in one process; "
    "inference = answer requests with the registry's models.",
)
@click.option("--web-port", type=int, default=None, help="Port of the HTTP API (role all).")
@click.option(
    "--keep-alive",
    is_flag=True,
    help="Run the worker as a child and start it again whenever it dies (what `sluice up` uses).",
)
def worker(role: str, web_port: int | None, keep_alive: bool) -> None:
    """Run a worker in the foreground (`sluice up` runs one in the background)."""
    if keep_alive:
        from agents.core.logs import configure_logging
        from agents.processes.supervise import heartbeat_watch, supervise

        settings = cli_settings()
        configure_logging(settings.log_level)
        command = [sys.executable, "-m", "agents.cli", "worker", "--role", role]
        watch = heartbeat_watch(settings, settings.slot(role))  # a worker whose heartbeat stops is restarted
        sys.exit(supervise(command + (["--web-port", str(web_port)] if web_port else []), watch=watch))
    from agents.processes.roles import run_worker

    settings = cli_settings()
    run_worker(settings, role=role, web_port=web_port or settings.api_port or 6066)  # type: ignore[arg-type]


@click.command()
@click.option("--secure", is_flag=True, help=SECURE_HELP)
def up(secure: bool) -> None:
    """Start the broker (unless one is configured), apply topics and start the worker; wait until healthy."""
    from agents.processes.runtime import up as runtime_up

    state = runtime_up(cli_settings(secure=secure))
    click.echo(json.dumps(state, indent=2))


@click.command()
def down() -> None:
    """Stop the worker and the local broker."""
    from agents.processes.runtime import down as runtime_down

    runtime_down(cli_settings())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Where the broker and API are, which processes run, and whether the worker is healthy."""
    from agents.processes.runtime import status as runtime_status

    state = runtime_status(cli_settings())
    if as_json:
        click.echo(json.dumps(state))
    else:
        click.echo(f"bootstrap servers  {state['bootstrap_servers'] or '-'}")
        click.echo(f"secure             {state['secure']}")
        click.echo(f"api                {state['api_url'] or '-'}")
        for process in state["processes"]:
            click.echo(f"{process['role']:<18} pid {process['pid']}")
        click.echo(f"healthy            {state['healthy']}")
    if not state["healthy"]:
        sys.exit(3)


COMMANDS: tuple[click.Command, ...] = (config, broker, topics, schemas, worker, up, down, status)
