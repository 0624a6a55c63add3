"""What every `sluice` command module shares: settings loaded once per command, and errors as one line."""

from __future__ import annotations

from typing import Any

import click

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


class SluiceGroup(click.Group):
    """Turns Sluice's own errors into one clear line and exit status 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SluiceError as exc:
            raise click.ClickException(str(exc)) from None
