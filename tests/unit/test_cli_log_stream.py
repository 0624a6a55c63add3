"""A command's stdout is its data: log lines of anything it runs go to stderr."""

from __future__ import annotations

import click
import structlog
from click.testing import CliRunner

from agents.cli._base import SluiceGroup


def test_log_lines_of_a_command_go_to_stderr_and_its_data_to_stdout() -> None:
    @click.group(cls=SluiceGroup)
    def cli() -> None:
        pass

    @cli.command()
    def rows() -> None:
        structlog.get_logger("test").info("batch_ran", size=1)  # as the batcher logs during `audit replay`
        click.echo('{"request_id": "r1"}')

    structlog.reset_defaults()  # as a fresh `sluice` process starts: structlog not configured
    try:
        result = CliRunner().invoke(cli, ["rows"])
    finally:
        structlog.reset_defaults()
    assert result.exit_code == 0, result.output
    assert result.stdout == '{"request_id": "r1"}\n'
    assert "batch_ran" in result.stderr
