"""The `sluice` command line: broker, topics, schemas, models, index, workers, search, API tokens, de-id, explain, demo,
bench.

`main` is the group; each module beside this one holds the commands of one thing an operator does.
"""

from __future__ import annotations

import click

from agents.cli import audit, bench, data, demo, explain, index, models, review, rules, services, tenants, tokens
from agents.cli._base import SluiceGroup


@click.group(cls=SluiceGroup)
def main() -> None:
    """Sluice: governed streaming of enterprise events into a de-identified vector index."""


for _module in (services, tenants, models, index, rules, data, tokens, review, audit, explain, bench, demo):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
