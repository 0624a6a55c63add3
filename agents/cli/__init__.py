"""The `sluice` command line: broker, topics, schemas, models, workers, search, de-identification, demo, bench."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from agents.core.settings import Settings, load_settings
from schemas.errors import SluiceError


def _settings() -> Settings:
    try:
        return load_settings()
    except SluiceError as exc:
        raise click.ClickException(str(exc)) from None


class SluiceGroup(click.Group):
    """Turns Sluice's own errors into one clear line and exit status 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SluiceError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=SluiceGroup)
def main() -> None:
    """Sluice: governed streaming of enterprise events into a de-identified vector index."""


@main.command()
def config() -> None:
    """Print the effective settings (secrets hidden)."""
    click.echo(json.dumps(_settings().redacted(), indent=2, ensure_ascii=False, default=str))


# --- broker -------------------------------------------------------------------------------------------
@main.group()
def broker() -> None:
    """The local single-node Apache Kafka (KRaft) broker."""


@broker.command("up")
def broker_up() -> None:
    """Start the local broker (assembling it from Maven artifacts the first time)."""
    from agents.processes.broker import LocalBroker

    settings = _settings()
    if settings.kafka_bootstrap_servers:
        click.echo(f"KAFKA_BOOTSTRAP_SERVERS is set ({settings.kafka_bootstrap_servers}): nothing to start")
        return
    state = LocalBroker(settings).up()
    click.echo(f"broker running on {state.bootstrap_servers} (pid {state.pid})")


@broker.command("assemble")
def broker_assemble() -> None:
    """Resolve the Kafka jars from Maven into the cache (no-op when done); `make` runs it."""
    from agents.processes.broker import LocalBroker

    broker = LocalBroker(_settings())
    broker.ensure_artifacts()
    click.echo(f"kafka artifacts ready: {broker.libs}")


@broker.command("down")
def broker_down() -> None:
    """Stop the local broker."""
    from agents.processes.broker import LocalBroker

    stopped = LocalBroker(_settings()).down()
    click.echo("broker stopped" if stopped else "broker was not running")


@broker.command("status")
def broker_status() -> None:
    """Say whether the local broker runs, and where."""
    from agents.processes.broker import LocalBroker

    state = LocalBroker(_settings()).state()
    if state is None:
        click.echo("broker not running")
        sys.exit(3)
    click.echo(f"broker running on {state.bootstrap_servers} (pid {state.pid})")


# --- topics and schemas ----------------------------------------------------------------------------
@main.group()
def topics() -> None:
    """Declared Kafka topics."""


@topics.command("apply")
def topics_apply() -> None:
    """Create missing topics and align configs with topics/specs.py (idempotent)."""
    from agents.processes.broker import resolve_bootstrap_servers
    from agents.processes.runtime import apply_declared_topics

    settings = _settings()
    for outcome in apply_declared_topics(settings, resolve_bootstrap_servers(settings)):
        click.echo(f"{outcome.topic:<26} {outcome.action:<8} partitions={outcome.partitions}")


@topics.command("list")
def topics_list() -> None:
    """Print the declared topics and their contracts."""
    from topics.specs import ALL_TOPICS

    for spec in ALL_TOPICS:
        pii = "raw PII possible" if spec.holds_raw_pii else "no raw PII"
        click.echo(f"{spec.name:<26} key={spec.key:<10} {spec.cleanup_policy:<7} {pii:<17} {spec.description}")


@main.group()
def schemas() -> None:
    """JSON Schemas of every topic."""


@schemas.command("export")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Default: schemas/json/")
def schemas_export(out_dir: Path | None) -> None:
    """Write one JSON Schema file per topic."""
    from topics.export import SCHEMA_DIR, export_schemas

    for path in export_schemas(out_dir or SCHEMA_DIR):
        click.echo(str(path))


# --- models ------------------------------------------------------------------------------------------
@main.group()
def models() -> None:
    """Model preparation (converted once, cached under var/models)."""


@models.command("prepare")
@click.option("--tiny", is_flag=True, help="A tiny random-weight encoder (tests), same conversion path.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
def models_prepare(tiny: bool, out_dir: Path | None) -> None:
    """Convert all-MiniLM-L6-v2 (from its PyPI wheel) to a CTranslate2 int8 encoder; no-op when done."""
    from models.embedding.convert import prepare_embedder

    settings = _settings()
    path = prepare_embedder(out_dir or settings.resolved_embedder_dir, tiny=tiny)
    click.echo(f"embedder ready: {path}")


def _registry(settings: Settings) -> Any:
    from models.registry import Registry

    return Registry(settings.resolved_registry_dir)


def _publish_registry(settings: Settings, name: str) -> None:
    """Put a model's registry state on models.registry.v1, where running inference workers pick it up."""
    from agents.core.kafka_io import produce_all
    from agents.processes.broker import resolve_bootstrap_servers
    from schemas.errors import BrokerUnavailableError
    from schemas.inference import RegistryMessage
    from topics.specs import MODELS_REGISTRY

    entry = _registry(settings).state().entry(name)
    message = RegistryMessage(name=name, state=entry.to_dict())
    try:
        bootstrap = resolve_bootstrap_servers(settings)
    except BrokerUnavailableError:
        click.echo("(no broker running: the change is saved and applies when workers start)")
        return
    produce_all(
        bootstrap,
        [(MODELS_REGISTRY.name, name.encode(), message.model_dump_json().encode())],
        options=settings.kafka_options,
    )
    click.echo(f"published on {MODELS_REGISTRY.name}: running workers switch without dropping requests")


@models.command("import")
@click.argument("source")
@click.option("--name", default=None, help="Registry name (default: smollm2 / minilm / the directory name).")
@click.option("--version", "version", default=None, help="Version label (default: derived from the source).")
@click.option(
    "--quantization", type=click.Choice(["int8", "float32", "int8_float32"]), default="int8", show_default=True
)
@click.option("--promote", is_flag=True, help="Serve this version once imported.")
def models_import(source: str, name: str | None, version: str | None, quantization: str, promote: bool) -> None:
    """Convert SOURCE (smollm2 | minilm | tiny-llama | a local HF model directory) into a registered version."""
    from models.registry import import_model

    settings = _settings()
    default_name = {"smollm2": "smollm2", "minilm": "minilm", "tiny-llama": "tiny-llama"}.get(source)
    model_name = name or default_name or Path(source).name
    manifest = import_model(
        source, name=model_name, version=version, quantization=quantization, root=settings.resolved_registry_dir
    )
    click.echo(
        json.dumps(
            {
                "name": model_name,
                "version": manifest.version,
                "quantization": manifest.quantization,
                "bytes": manifest.total_bytes,
                "quality": manifest.quality,
            },
            indent=2,
            default=str,
        )
    )
    if promote:
        _registry(settings).promote(model_name, manifest.version)
        _publish_registry(settings, model_name)


@models.command("list")
def models_list() -> None:
    """Registered models, their versions, what serves and the A/B weights."""
    for entry in _registry(_settings()).list():
        click.echo(json.dumps({"name": entry.name, **entry.to_dict()}))


@models.command("promote")
@click.argument("name")
@click.argument("version")
def models_promote(name: str, version: str) -> None:
    """Serve VERSION of NAME; running workers load it beside the old one and switch atomically."""
    settings = _settings()
    _registry(settings).promote(name, version)
    _publish_registry(settings, name)


@models.command("rollback")
@click.argument("name")
def models_rollback(name: str) -> None:
    """Serve the previously promoted version of NAME again."""
    settings = _settings()
    _registry(settings).rollback(name)
    _publish_registry(settings, name)


@models.command("weights")
@click.argument("name")
@click.argument("weights", nargs=-1, required=True)
def models_weights(name: str, weights: tuple[str, ...]) -> None:
    """A/B split, e.g. `sluice models weights smollm2 v1=0.9 v2=0.1` (sticky per session)."""
    parsed: dict[str, float] = {}
    for item in weights:
        version, _, weight = item.partition("=")
        try:
            parsed[version] = float(weight)
        except ValueError:
            raise click.ClickException(f"weight {item!r} is not VERSION=NUMBER") from None
    settings = _settings()
    _registry(settings).set_weights(name, parsed)
    _publish_registry(settings, name)


# --- processes ---------------------------------------------------------------------------------------
@main.command()
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
        from agents.processes.supervise import supervise

        configure_logging(_settings().log_level)
        command = [sys.executable, "-m", "agents.cli", "worker", "--role", role]
        sys.exit(supervise(command + (["--web-port", str(web_port)] if web_port else [])))
    from agents.processes.roles import run_worker

    settings = _settings()
    run_worker(settings, role=role, web_port=web_port or settings.api_port or 6066)  # type: ignore[arg-type]


@main.command()
def up() -> None:
    """Start the broker (unless one is configured), apply topics and start the worker; wait until healthy."""
    from agents.processes.runtime import up as runtime_up

    state = runtime_up(_settings())
    click.echo(json.dumps(state, indent=2))


@main.command()
def down() -> None:
    """Stop the worker and the local broker."""
    from agents.processes.runtime import down as runtime_down

    runtime_down(_settings())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Where the broker and API are, which processes run, and whether the worker is healthy."""
    from agents.processes.runtime import status as runtime_status

    state = runtime_status(_settings())
    if as_json:
        click.echo(json.dumps(state))
    else:
        click.echo(f"bootstrap servers  {state['bootstrap_servers'] or '-'}")
        click.echo(f"api                {state['api_url'] or '-'}")
        for process in state["processes"]:
            click.echo(f"{process['role']:<18} pid {process['pid']}")
        click.echo(f"healthy            {state['healthy']}")
    if not state["healthy"]:
        sys.exit(3)


# --- using it ---------------------------------------------------------------------------------------------
def _api_url(settings: Settings) -> str:
    from agents.processes.runtime import status as runtime_status

    url = runtime_status(settings)["api_url"]
    if not url:
        raise click.ClickException("no worker API known: run `sluice up` first")
    return str(url)


@main.command()
@click.argument("query")
@click.option("--tenant", required=True, help="Only this tenant's records are searched.")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 50))
def search(query: str, tenant: str, k: int) -> None:
    """Semantic search over the de-identified index through the worker's API."""
    settings = _settings()
    body = json.dumps({"query": query, "tenant": tenant, "k": k}).encode()
    request = urllib.request.Request(
        f"{_api_url(settings)}/search", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            click.echo(json.dumps(json.loads(response.read()), indent=2, ensure_ascii=False))
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"search failed ({exc.code}): {exc.read().decode(errors='replace')}") from None


@main.group(invoke_without_command=True)
@click.pass_context
def deid(ctx: click.Context) -> None:
    """De-identify JSONL from stdin ({"text": ...} per line) to stdout, with the entities found.

    `sluice deid pseudonym` prints the pseudonym of one identifier instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    from agents.core.deid import build_deidentifier
    from models.deid.cli_core import deidentify_jsonl

    for line in deidentify_jsonl(sys.stdin, build_deidentifier(_settings())):
        click.echo(line)


def _entity_types(*, identifiers_only: bool = False) -> list[str]:
    from models.deid.entity_types import ENTITY_TYPES, IDENTIFIER_TYPES

    return sorted(IDENTIFIER_TYPES) if identifiers_only else list(ENTITY_TYPES)


def _read_identifier(value: str) -> str:
    # "-" reads the value from stdin, which keeps it out of the shell history and the process list.
    identifier = sys.stdin.readline().strip() if value == "-" else value
    if not identifier.strip():
        raise click.ClickException("the identifier is empty")
    return identifier


def _subject_of(identifier: str, entity_type: str, settings: Settings) -> str:
    """The identifier's keyed pseudonym; a warning (never the value) when ingest would not recognise it."""
    from models.deid.lookup import identifier_pseudonym

    looked_up = identifier_pseudonym(_read_identifier(identifier), entity_type, settings.pseudonym_secret())
    if looked_up.recognised is False:
        click.echo(
            f"warning: the value is not a valid {entity_type} (format or check digit); records hold this pseudonym "
            "only where a field declared it, so it may match nothing",
            err=True,
        )
    return looked_up.pseudonym


@deid.command("pseudonym")
@click.option("--type", "entity_type", required=True, type=click.Choice(_entity_types()), help="Entity type.")
@click.argument("value")
def deid_pseudonym(entity_type: str, value: str) -> None:
    """Print the keyed pseudonym of VALUE ("-" = read it from stdin), as records store it.

    For identifier types (CN_RESIDENT_ID, CN_MOBILE, EMAIL_ADDRESS, BANK_CARD, CN_USCC) it is the subject
    pseudonym that `sluice forget --subject` takes; any spelling of the value gives the same pseudonym.
    """
    click.echo(_subject_of(value, entity_type, _settings()))


@main.command()
@click.option("--tenant", required=True, help="The tenant whose records mention the subject.")
@click.option("--subject", default=None, help="The subject pseudonym, e.g. <CN_MOBILE_49e582b863>.")
@click.option("--identifier", default=None, help='A raw identifier instead ("-" = read it from stdin); never shown.')
@click.option(
    "--type", "entity_type", type=click.Choice(_entity_types(identifiers_only=True)), help="Type of --identifier."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def forget(tenant: str, subject: str | None, identifier: str | None, entity_type: str | None, as_json: bool) -> None:
    """Right to erasure: delete every indexed chunk of TENANT that mentions a data subject; audited.

    Name the subject by pseudonym (--subject) or by a raw identifier and its type (--identifier, --type), whose
    pseudonym is computed here and never leaves this process.
    """
    if (subject is None) == (identifier is None) or (identifier is None) != (entity_type is None):
        raise click.UsageError("give either --subject PSEUDONYM, or --identifier VALUE with --type TYPE")
    settings = _settings()
    url = f"{_api_url(settings)}/forget"
    if identifier is not None and entity_type is not None:
        subject = _subject_of(identifier, entity_type, settings)
    body = json.dumps({"tenant": tenant, "subject": subject}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"forget failed ({exc.code}): {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"no worker API at {url} ({reason}): run `sluice up` first") from None
    if as_json:
        click.echo(json.dumps(reply))
    else:
        click.echo(f"forgot {reply['subject']} in tenant {reply['tenant']}: {reply['chunks_deleted']} chunks deleted")


@main.group()
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

    settings = _settings()
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


# --- demo and benchmarks -----------------------------------------------------------------------------------
@main.command()
@click.option("--events", default=600, show_default=True, help="Upstream events to generate.")
@click.option("--broken", default=30, show_default=True, help="Deliberately broken events among them.")
@click.option("--seed", default=7, show_default=True)
def demo(events: int, broken: int, seed: int) -> None:
    """The main job: start everything, stream realistic PII-laden events through, search, summarise."""
    from agents.demo.run import run_demo

    run_demo(_settings(), events=events, broken=broken, seed=seed)


@main.group()
def ab() -> None:
    """A/B comparison of model variants."""


@ab.command("report")
@click.option("--tenant", default=None, help="Only this tenant's requests.")
def ab_report(tenant: str | None) -> None:
    """Latency, tokens, statuses and reviews per model variant, from audit.events.v1."""
    import json as json_module

    from agents.core.kafka_io import read_topic
    from agents.processes.broker import resolve_bootstrap_servers
    from agents.tools.ab_report import compare_variants
    from topics.specs import AUDIT_EVENTS

    settings = _settings()
    records = read_topic(resolve_bootstrap_servers(settings), AUDIT_EVENTS.name, options=settings.kafka_options)
    events = (json_module.loads(r.value) for r in records if r.value)
    click.echo(json_module.dumps(compare_variants(events, tenant=tenant), indent=2, ensure_ascii=False))


# --- audit -----------------------------------------------------------------------------------------------
class _Instant(click.ParamType):
    name = "ISO8601"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from agents.tools.audit.entries import parse_instant

        try:
            return parse_instant(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-20T09:30:00+08:00)", param, ctx)


class AuditReadFailure(click.ClickException):
    """Exit status 2: the topic could not be read, so nothing was verified (1 means a problem was found)."""

    exit_code = 2


def _audit_read(run: Any) -> Any:
    from confluent_kafka import KafkaException

    try:
        return run()
    except (SluiceError, KafkaException) as exc:
        raise AuditReadFailure(str(exc)) from None


def _audit_progress(count: int) -> None:
    click.echo(f"read {count:,} audit events…", err=True)


_TOPIC_HELP = "Audit topic to read, e.g. an archived copy of the stream (default: audit.events.v1)."


@main.group()
def audit() -> None:
    """Compliance: verify the audit hash chain, replay audit events."""


@audit.command("verify")
@click.option("--since", type=_Instant(), default=None, help="Start at the first event emitted at/after this instant.")
@click.option("--until", type=_Instant(), default=None, help="Stop before the first event emitted after this instant.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {intact, partitions: [...]}.")
@click.option("--topic", default=None, help=_TOPIC_HELP)
def audit_verify(since: Any, until: Any, as_json: bool, topic: str | None) -> None:
    """Verify each partition's hash chain and checkpoints. Exit 0: intact, 1: problems found, 2: could not read."""
    from agents.tools.audit.commands import verify_topic
    from agents.tools.audit.report import render_text
    from topics.specs import AUDIT_EVENTS

    settings = _settings()
    name = topic or AUDIT_EVENTS.name
    report = _audit_read(lambda: verify_topic(settings, name, since=since, until=until, on_progress=_audit_progress))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(render_text(report, name)))
    if not report.intact:
        raise SystemExit(1)


@audit.command("replay")
@click.option("--since", type=_Instant(), default=None, help="Events emitted at/after this instant.")
@click.option("--until", type=_Instant(), default=None, help="Events emitted at/before this instant.")
@click.option("--tenant", multiple=True, help="Events of this tenant (repeatable).")
@click.option("--request-id", "request_ids", multiple=True, help="Request events with this request id (repeatable).")
@click.option("--record-id", "record_ids", multiple=True, help="Record events with this record id (repeatable).")
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    metavar="PSEUDONYM",
    help="Record events naming this subject pseudonym, and later events about those records (repeatable).",
)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "html"]), default="jsonl", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File (default stdout).")
@click.option("--topic", default=None, help=_TOPIC_HELP)
@click.option(
    "--reexecute",
    "reexecute_on",
    metavar="MODEL@VERSION",
    default=None,
    help="Run the selected answered requests again on this registry version (greedy) and report, by answer hash, "
    "which responses would differ (no text is written).",
)
@click.option(
    "--retrieval-url",
    default=None,
    help="Index API used for retrieval while re-executing (default: the running worker's, if any; else none).",
)
def audit_replay(
    since: Any,
    until: Any,
    tenant: tuple[str, ...],
    request_ids: tuple[str, ...],
    record_ids: tuple[str, ...],
    subjects: tuple[str, ...],
    fmt: Any,
    output: Path | None,
    topic: str | None,
    reexecute_on: str | None,
    retrieval_url: str | None,
) -> None:
    """Select audit events (filters AND together; a repeated filter matches any of its values) and write them."""
    from agents.tools.audit.commands import output_file, replay_topic
    from agents.tools.audit.replay import ReplayFilter
    from topics.specs import AUDIT_EVENTS

    settings = _settings()
    name = topic or AUDIT_EVENTS.name
    filters = ReplayFilter(
        since=since,
        until=until,
        tenants=frozenset(tenant),
        request_ids=frozenset(request_ids),
        record_ids=frozenset(record_ids),
        subjects=frozenset(subjects),
    )

    if reexecute_on is not None:
        _audit_reexecute(settings, name, filters, fmt, output, reexecute_on, retrieval_url)
        return

    def run() -> Any:
        if output is None:
            return replay_topic(settings, name, filters, fmt, sys.stdout, on_progress=_audit_progress)
        with output_file(output) as out:
            return replay_topic(settings, name, filters, fmt, out, on_progress=_audit_progress)

    outcome = _audit_read(run)
    problems = outcome.report.problems
    chain = f"{len(problems)} problem(s), see `sluice audit verify`" if problems else "intact"
    where = f" to {output}" if output else ""
    click.echo(f"{outcome.selected} event(s) written{where}; chain: {chain}", err=True)


def _audit_reexecute(
    settings: Settings,
    topic: str,
    filters: Any,
    fmt: Any,
    output: Path | None,
    model_ref: str,
    retrieval_url: str | None,
) -> None:
    from agents.processes.runtime import status as runtime_status
    from agents.tools.audit.commands import output_file, replay_reexecute

    url = retrieval_url or runtime_status(settings).get("api_url")

    def run() -> Any:
        if output is None:
            return replay_reexecute(settings, topic, filters, fmt, sys.stdout, model_ref, retrieval_url=url)
        with output_file(output) as out:
            return replay_reexecute(settings, topic, filters, fmt, out, model_ref, retrieval_url=url)

    outcome, counts = _audit_read(run)
    click.echo(
        f"{outcome.selected} event(s) selected; re-executed {counts['reexecuted']} on {model_ref} "
        f"(retrieval: {url or 'none'}): {counts['same']} same, {counts['differ']} would differ, "
        f"{counts['not_comparable']} not comparable",
        err=True,
    )


@main.group()
def bench() -> None:
    """Benchmarks: ratios measured side by side in one run (results under var/bench/)."""


@bench.command("ingest")
@click.option("--records", default=1500, show_default=True)
def bench_ingest(records: int) -> None:
    """End-to-end ingest rate through Kafka vs each stage alone."""
    from agents.bench.ingest import run_ingest_bench

    run_ingest_bench(_settings(), records=records)


@bench.command("inference")
@click.option("--requests", default=64, show_default=True, type=click.IntRange(1, 128))
@click.option("--naive-prompts", default=16, show_default=True, help="Prompts for the per-message transformers loop.")
def bench_inference(requests: int, naive_prompts: int) -> None:
    """Raw CTranslate2 vs Sluice through Kafka vs a naive transformers loop vs Sluice float32, in one run."""
    from agents.bench.inference import run_inference_bench

    run_inference_bench(_settings(), requests=requests, naive_prompts=naive_prompts)


@bench.command("batching")
@click.option("--prompts", default=16, show_default=True, type=click.IntRange(1, 128), help="Prompts per case.")
@click.option(
    "--repeats", default=2, show_default=True, type=click.IntRange(1), help="Runs of each per case, order alternating."
)
def bench_batching(prompts: int, repeats: int) -> None:
    """The raw engine batched vs one prompt at a time, without and with retrieved records in the prompt."""
    from agents.bench.batching import run_batching_bench

    run_batching_bench(_settings(), prompts=prompts, repeats=repeats)


@bench.command("eos")
@click.option("--records", default=600, show_default=True, type=click.IntRange(1), help="Ingest records per round.")
@click.option("--requests", default=32, show_default=True, type=click.IntRange(1, 128), help="Requests per round.")
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1), help="Rounds of each guarantee.")
def bench_eos(records: int, requests: int, rounds: int) -> None:
    """Ingest and inference throughput under at_least_once vs exactly_once, interleaved rounds in one run."""
    from agents.bench.eos import run_eos_bench

    run_eos_bench(_settings(), records=records, requests=requests, rounds=rounds)


if __name__ == "__main__":
    main()
