"""`sluice demo`: the whole system on realistic PII-laden events, end to end."""

from __future__ import annotations

import click

from agents.cli._base import cli_settings


@click.command()
@click.option("--events", default=600, show_default=True, help="Upstream events to generate.")
@click.option("--broken", default=30, show_default=True, help="Deliberately broken events among them.")
@click.option("--seed", default=7, show_default=True)
def demo(events: int, broken: int, seed: int) -> None:
    """The main job: start everything, stream realistic PII-laden events through, search, summarise."""
    from agents.demo.run import demo_problems, run_demo

    summary = run_demo(cli_settings(), events=events, broken=broken, seed=seed)
    problems = demo_problems(summary)
    if problems:
        raise click.ClickException("the demo did not do its job: " + "; ".join(problems))


COMMANDS: tuple[click.Command, ...] = (demo,)
