"""The index: rebuild the collection in the current schema and with the current embedder."""

from __future__ import annotations

import click

from agents.cli._base import cli_settings


@click.group()
def index() -> None:
    """The vector index (Milvus collection) the index worker writes and /search reads."""


@index.command("rebuild")
def index_rebuild() -> None:
    """Re-embed every chunk of the collection with the prepared embedder into the current schema (lexical terms for
    hybrid search), then swap it in. Stop the workers first (`sluice down`): Milvus Lite allows one process."""
    from models.embedding.opening import open_embedder
    from models.store.rebuild import rebuild_collection

    settings = cli_settings()
    embedder = open_embedder(settings.resolved_embedder_dir, threads=settings.embed_threads)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    click.echo(f"rebuilding {settings.milvus_collection!r} with {embedder.version}")
    copied = rebuild_collection(
        settings.resolved_milvus_uri,
        settings.milvus_collection,
        embedder,
        token=token,
        progress=lambda copied: click.echo(f"  {copied} chunks copied", err=True),
    )
    click.echo(f"rebuilt {settings.milvus_collection!r}: {copied} chunks, hybrid search ready")


COMMANDS: tuple[click.Command, ...] = (index,)
