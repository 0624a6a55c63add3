"""`sluice explain`: an HTML report of what a kept answer attended to, from its request context and torch twin."""

from __future__ import annotations

from pathlib import Path

import click

from agents.cli._base import cli_settings


@click.command("explain")
@click.argument("request_id")
@click.option("--tenant", required=True, help="The tenant the request belongs to.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the report (default: var/explain/<tenant>-<request_id>.html).",
)
def explain(request_id: str, tenant: str, out: Path | None) -> None:
    """Write the explanation report of REQUEST_ID and print its path.

    The report shows the answer's tokens and, for each, which prompt tokens, retrieved records and turns it attended
    to (attention of the model version's torch twin), and which records the answer cites. It is built only from what
    Sluice kept on inference.context.v1: a request whose context is gone cannot be explained.
    """
    from confluent_kafka import KafkaException

    from agents.processes.broker import resolve_bootstrap_servers
    from agents.tools.explain import default_report_path, explain_report_html

    settings = cli_settings()

    def progress(message: str) -> None:
        click.echo(f"[explain] {message}", err=True)

    try:
        page = explain_report_html(settings, resolve_bootstrap_servers(settings), tenant, request_id, progress=progress)
    except KafkaException as exc:
        raise click.ClickException(f"cannot read the request context: {exc}") from None
    path = out or default_report_path(settings, tenant, request_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    click.echo(str(path))


COMMANDS: tuple[click.Command, ...] = (explain,)
