"""Working with the data: search the index, de-identify text, and erase a data subject (right to erasure)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from agents.cli._base import cli_settings
from agents.core.settings import Settings

if TYPE_CHECKING:
    from agents.api.client import IndexApi


def _api(settings: Settings, token: str | None, timeout_s: float) -> IndexApi:
    """The running worker's API, called with --token or else SLUICE_API_TOKEN."""
    from agents.api.client import IndexApi
    from agents.processes.runtime import status as runtime_status

    url = runtime_status(settings)["api_url"]
    if not url:
        raise click.ClickException("no worker API known: run `sluice up` first")
    if token is None and settings.api_token is not None:
        token = settings.api_token.get_secret_value()
    return IndexApi(str(url), token=token, timeout_s=timeout_s)


def token_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--token",
        default=None,
        help="API token (default: SLUICE_API_TOKEN, which keeps it out of the process list and shell history).",
    )(command)


@contextmanager
def _api_errors(action: str) -> Iterator[None]:
    """The API's failures in the CLI's words: nobody answering says to start Sluice; an error reply says
    `<action> failed (<status>): <the API's reason>`. Both exit with status 1."""
    from agents.api.client import IndexApiError, IndexApiUnreachableError

    try:
        yield
    except IndexApiUnreachableError as exc:
        raise click.ClickException(str(exc)) from None
    except IndexApiError as exc:
        # The client's message is "<path> failed (<status>): <reason>"; the CLI names the command instead.
        reason = str(exc).partition("): ")[2] or str(exc)
        raise click.ClickException(f"{action} failed ({exc.status}): {reason}") from None


@click.command()
@click.argument("query")
@click.option("--tenant", required=True, help="Only this tenant's records are searched.")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 50))
@token_option
def search(query: str, tenant: str, k: int, token: str | None) -> None:
    """Semantic search over the de-identified index through the worker's API."""
    api = _api(cli_settings(), token, timeout_s=30)
    with _api_errors("search"):
        hits = api.search(tenant, query, k)
    click.echo(json.dumps({"hits": [hit.to_json() for hit in hits]}, indent=2, ensure_ascii=False))


@click.group(invoke_without_command=True)
@click.pass_context
def deid(ctx: click.Context) -> None:
    """De-identify JSONL from stdin ({"text": ...} per line) to stdout, with the entities found.

    `sluice deid pseudonym` prints the pseudonym of one identifier instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    from agents.core.deid import build_deidentifier
    from models.deid.cli_core import deidentify_jsonl

    for line in deidentify_jsonl(sys.stdin, build_deidentifier(cli_settings())):
        click.echo(line)


def _seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not seeds:
        raise click.BadParameter("name at least one seed")
    return seeds


@deid.command("eval")
@click.option(
    "--seeds",
    default="9001,9002,9003",
    show_default=True,
    help="Corpus seeds, comma-separated; the default ones were never used to tune the recognizers.",
)
@click.option("--texts", "texts_per_seed", default=400, show_default=True, type=click.IntRange(1, 100_000))
def deid_eval(seeds: str, texts_per_seed: int) -> None:
    """Measure de-identification on generated, labelled text (JSON on stdout).

    Keep rate of protected identifiers (document numbers, SKUs, trace ids that survive verbatim), recall of person
    names in mixed Chinese/English and single-language text, structured PII leaks, and place names kept, with the
    configured operators and NER setting. The texts are synthetic; nothing real is read or printed.
    """
    import secrets

    from agents.core.deid import build_deidentifier
    from agents.demo.deid_eval import evaluate

    engine = build_deidentifier(cli_settings(), pseudonym_key=secrets.token_bytes(32))
    click.echo(json.dumps(evaluate(engine, _seeds(seeds), texts_per_seed), indent=2, ensure_ascii=False))


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
    click.echo(_subject_of(value, entity_type, cli_settings()))


@click.command()
@click.option("--tenant", required=True, help="The tenant whose records mention the subject.")
@click.option("--subject", default=None, help="The subject pseudonym, e.g. <CN_MOBILE_49e582b863>.")
@click.option("--identifier", default=None, help='A raw identifier instead ("-" = read it from stdin); never shown.')
@click.option(
    "--type", "entity_type", type=click.Choice(_entity_types(identifiers_only=True)), help="Type of --identifier."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@token_option
def forget(
    tenant: str, subject: str | None, identifier: str | None, entity_type: str | None, as_json: bool, token: str | None
) -> None:
    """Right to erasure: delete every indexed chunk of TENANT that mentions a data subject; audited.

    Name the subject by pseudonym (--subject) or by a raw identifier and its type (--identifier, --type), whose
    pseudonym is computed here and never leaves this process.
    """
    if (subject is None) == (identifier is None) or (identifier is None) != (entity_type is None):
        raise click.UsageError("give either --subject PSEUDONYM, or --identifier VALUE with --type TYPE")
    settings = cli_settings()
    api = _api(settings, token, timeout_s=60)
    if identifier is not None and entity_type is not None:
        subject = _subject_of(identifier, entity_type, settings)
    assert subject is not None  # one of the two, checked above
    with _api_errors("forget"):
        reply = api.forget(tenant, subject)
    if as_json:
        click.echo(json.dumps(reply))
    else:
        click.echo(f"forgot {reply['subject']} in tenant {reply['tenant']}: {reply['chunks_deleted']} chunks deleted")


COMMANDS: tuple[click.Command, ...] = (search, deid, forget)
