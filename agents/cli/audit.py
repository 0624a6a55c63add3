"""Compliance on the command line: verify the audit hash chain, replay (and re-execute) audit events."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from agents.cli._base import cli_settings
from agents.core.settings import Settings
from schemas.errors import SluiceError


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


@click.group()
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

    settings = cli_settings()
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
    help="Record events naming this subject pseudonym, later events about those records, the requests whose "
    "retrieval returned them, and the subject's forget events (repeatable).",
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

    settings = cli_settings()
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


COMMANDS: tuple[click.Command, ...] = (audit,)
