"""Compliance on the command line: verify the audit chain, prove an event's inclusion, replay audit events."""

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


def _public_key_options(command: Any) -> Any:
    """--public-key ID=BASE64 (repeatable) and --public-keys FILE: the keys checkpoints are checked with."""
    command = click.option(
        "--public-keys",
        "public_keys_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="File of public keys: lines ID=BASE64, or a JSON object {id: base64}.",
    )(command)
    return click.option(
        "--public-key",
        "public_key",
        multiple=True,
        metavar="ID=BASE64",
        help="Ed25519 public key of a key id that signed checkpoints (repeatable; `sluice audit public-key` prints "
        "them). Given keys replace SLUICE_AUDIT_PUBLIC_KEYS and the local ones.",
    )(command)


def _given_keys(settings: Settings, public_key: tuple[str, ...], public_keys_file: Path | None) -> Any:
    """The keys given on the command line (None: the settings'); legacy HMAC keys always come from the settings."""
    from agents.core.audit_keys import CheckpointKeys, parse_public_key_assignment, read_public_keys_file

    if not public_key and public_keys_file is None:
        return None
    try:
        keys = dict(read_public_keys_file(public_keys_file)) if public_keys_file is not None else {}
        keys.update(parse_public_key_assignment(text) for text in public_key)
        hmac_keys = settings.audit_checkpoint_keys().hmac
    except SluiceError as exc:
        raise click.UsageError(str(exc)) from None
    return CheckpointKeys(keys, hmac_keys, "given on the command line")


@click.group()
def audit() -> None:
    """Compliance: verify the audit chain, prove an event is in it, replay audit events."""


@audit.command("verify")
@click.option("--since", type=_Instant(), default=None, help="Start at the first event emitted at/after this instant.")
@click.option("--until", type=_Instant(), default=None, help="Stop before the first event emitted after this instant.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: {intact, partitions: [...]}.")
@click.option("--topic", default=None, help=_TOPIC_HELP)
@_public_key_options
@click.option(
    "--max-unauthenticated",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Most events a partition may hold after its last valid checkpoint (default: 2 × "
    "SLUICE_AUDIT_CHECKPOINT_EVERY).",
)
@click.option(
    "--expect-heads",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Signed heads recorded earlier (an earlier `verify --json`, or a proof): each chain must still reach them, "
    "which shows events removed from the end.",
)
def audit_verify(
    since: Any,
    until: Any,
    as_json: bool,
    topic: str | None,
    public_key: tuple[str, ...],
    public_keys_file: Path | None,
    max_unauthenticated: int | None,
    expect_heads: Path | None,
) -> None:
    """Verify each partition's hash chain and signed checkpoints. Exit 0: intact, 1: problems found, 2: could not
    read (or no key to verify with). Needs only public keys; never creates a key."""
    from agents.tools.audit.commands import load_expected_heads, verify_topic
    from agents.tools.audit.report import render_text
    from topics.specs import AUDIT_EVENTS

    settings = cli_settings()
    name = topic or AUDIT_EVENTS.name
    keys = _given_keys(settings, public_key, public_keys_file)

    def run() -> Any:
        expected = load_expected_heads(expect_heads, keys or settings.audit_checkpoint_keys()) if expect_heads else None
        return verify_topic(
            settings,
            name,
            keys=keys,
            since=since,
            until=until,
            max_unauthenticated=max_unauthenticated,
            expected_heads=expected,
            on_progress=_audit_progress,
        )

    report = _audit_read(run)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(render_text(report, name)))
    if not report.intact:
        raise SystemExit(1)


@audit.command("prove")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="Print the proof itself (JSON), for `sluice audit check-proof`.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the proof here.")
@click.option("--topic", default=None, help=_TOPIC_HELP)
@_public_key_options
def audit_prove(
    event_id: str,
    as_json: bool,
    output: Path | None,
    topic: str | None,
    public_key: tuple[str, ...],
    public_keys_file: Path | None,
) -> None:
    """Prove that the audit event EVENT_ID is in its partition's signed Merkle tree: its leaf index, the tree size,
    the audit path, and the signed tree head with its signature. Exit 1: no proof (not found, not covered yet)."""
    from agents.tools.audit.commands import output_file, prove_event
    from agents.tools.audit.proof import ProofError
    from topics.specs import AUDIT_EVENTS

    settings = cli_settings()
    name = topic or AUDIT_EVENTS.name
    keys = _given_keys(settings, public_key, public_keys_file)
    try:
        proof = _audit_read(lambda: prove_event(settings, name, event_id, keys=keys, on_progress=_audit_progress))
    except ProofError as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(proof, indent=2, ensure_ascii=False)
    if output is not None:
        with output_file(output) as out:
            out.write(text + "\n")
    if as_json:
        click.echo(text)
    else:
        head = proof["signed_head"]
        click.echo(
            f"event {event_id}: partition {proof['partition']}, offset {proof['offset']}, seq {proof['leaf_index']}; "
            f"in the tree of {proof['tree_size']} events signed by key {head['key_id']} at {head['signed_at']} "
            f"(checkpoint at offset {proof['checkpoint']['offset']}); audit path of {len(proof['audit_path'])} "
            f"hashes{f'; written to {output}' if output else ' (--json prints it, --output writes it)'}"
        )


@audit.command("check-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_public_key_options
def audit_check_proof(proof_file: Path, public_key: tuple[str, ...], public_keys_file: Path | None) -> None:
    """Verify an inclusion proof offline, with public keys only (no cluster). Exit 0: valid, 1: invalid."""
    from agents.tools.audit.proof import ProofError, check_proof

    settings = cli_settings()
    keys = _given_keys(settings, public_key, public_keys_file) or settings.audit_checkpoint_keys()
    try:
        proof = json.loads(proof_file.read_text(encoding="utf-8"))
        if not isinstance(proof, dict):
            raise ProofError("the file does not hold a proof (a JSON object)")
        checked = check_proof(proof, keys.public)
    except (ProofError, ValueError) as exc:
        click.echo(f"INVALID: {exc}")
        raise SystemExit(1) from None
    click.echo(f"VALID: {checked.describe()}")


@audit.command("public-key")
@click.option("--json", "as_json", is_flag=True, help="One JSON object {key id: base64}.")
def audit_public_key(as_json: bool) -> None:
    """Print the public keys of this machine's checkpoint signing keys (ID=BASE64), and the configured ones, for
    auditors: `sluice audit verify --public-key ID=BASE64`. Reads keys only; never creates one."""
    from agents.core.audit_keys import public_key_text

    settings = cli_settings()
    try:
        signing_id, private = settings.audit_signer()
        signing = {key_id: public_key_text(key) for key_id, key in private.items()}
    except SluiceError as exc:
        click.echo(f"no signing key here: {exc}", err=True)
        signing_id, signing = "", {}
    configured = {key_id: public_key_text(key) for key_id, key in settings.audit_checkpoint_keys().public.items()}
    keys = {**configured, **signing}
    if not keys:
        raise click.ClickException("no audit public key on this machine or in SLUICE_AUDIT_PUBLIC_KEYS")
    if as_json:
        click.echo(json.dumps(keys, indent=2))
        return
    for key_id in sorted(keys, key=lambda k: (k != signing_id, k)):
        click.echo(f"{key_id}={keys[key_id]}")
    if signing_id:
        click.echo(f"({signing_id} signs new checkpoints)", err=True)


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
