"""What every `sluice` command module shares: settings loaded once per command, and errors as one line."""

from __future__ import annotations

import sys
from typing import Any

import click
import structlog

from agents.core.settings import Settings, load_settings
from schemas.errors import SluiceError


def cli_settings(*, secure: bool = False) -> Settings:
    """The effective settings; bad configuration is one line naming the setting, not a traceback.

    `secure=True` is `--secure` (as SLUICE_SECURE=true). A running local broker that is secured makes every command
    connect securely too, so `sluice up --secure` need not be repeated on each later command."""
    from agents.processes.broker import with_local_broker_mode

    try:
        return with_local_broker_mode(load_settings(**({"secure": True} if secure else {})))
    except SluiceError as exc:
        raise click.ClickException(str(exc)) from None


def logs_to_stderr() -> None:
    """Log lines of a command go to stderr: its stdout is data (JSONL, reports) that a pipe or a file reads.
    structlog's default prints to stdout; workers configure their own JSON logs (agents/core/logs.py)."""
    if not structlog.is_configured():
        # sys.stderr looked up per logger, not bound once: tests (and tools) swap it.
        structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(sys.stderr))


class SluiceGroup(click.Group):
    """Turns Sluice's own errors into one clear line and exit status 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        logs_to_stderr()
        try:
            return super().invoke(ctx)
        except SluiceError as exc:
            raise click.ClickException(str(exc)) from None
