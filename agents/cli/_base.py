"""What every `sluice` command module shares: settings loaded once per command, and errors as one line."""

from __future__ import annotations

from typing import Any

import click

from agents.core.settings import Settings, load_settings
from schemas.errors import SluiceError


def cli_settings() -> Settings:
    """The effective settings; bad configuration is one line naming the setting, not a traceback."""
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
