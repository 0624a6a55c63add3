"""`sluice audit verify` and `sluice audit replay`: read the audit topic once, verify its chain, select and write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from agents.core.settings import Settings
from agents.tools.audit.replay import (
    ReplayFilter,
    ReplayFormat,
    SelectedEvent,
    select_events,
    write_csv,
    write_html,
    write_jsonl,
)
from agents.tools.audit.report import ChainReport
from agents.tools.audit.source import read_audit_topic
from agents.tools.audit.verify import ChainVerifier

Progress = Callable[[int], None]


def _records(settings: Settings, topic: str, on_progress: Progress | None) -> Iterator[tuple[int, int, bytes | None]]:
    from agents.processes.broker import resolve_bootstrap_servers

    bootstrap = resolve_bootstrap_servers(settings)
    for record in read_audit_topic(bootstrap, topic, options=settings.kafka_client_config(), on_progress=on_progress):
        yield record.partition, record.offset, record.value


def verify_topic(
    settings: Settings,
    topic: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_progress: Progress | None = None,
) -> ChainReport:
    """Reads `topic` to its end and verifies every partition's chain (within the since/until window, if given)."""
    verifier = ChainVerifier(settings.audit_keys(), since=since, until=until)
    for partition, offset, value in _records(settings, topic, on_progress):
        verifier.feed(partition, offset, value)
    return verifier.report()


@dataclass(frozen=True)
class ReplayOutcome:
    selected: int
    report: ChainReport


def replay_topic(
    settings: Settings,
    topic: str,
    filters: ReplayFilter,
    fmt: ReplayFormat,
    out: TextIO,
    *,
    on_progress: Progress | None = None,
) -> ReplayOutcome:
    """Selects events of `topic` by `filters` and writes them to `out`; verifies the whole chain on the same read."""
    verifier = ChainVerifier(settings.audit_keys())
    selected = select_events(_records(settings, topic, on_progress), filters, verifier=verifier)
    if fmt == "html":
        events: list[SelectedEvent] = list(selected)
        report = verifier.report()
        count = write_html(events, out, topic=topic, filters=filters, report=report)
    else:
        count = (write_csv if fmt == "csv" else write_jsonl)(selected, out)
        report = verifier.report()
    return ReplayOutcome(count, report)


def replay_reexecute(
    settings: Settings,
    topic: str,
    filters: ReplayFilter,
    fmt: ReplayFormat,
    out: TextIO,
    model_ref: str,
    *,
    retrieval_url: str | None = None,
    on_progress: Progress | None = None,
) -> tuple[ReplayOutcome, dict[str, int]]:
    """Selects like replay_topic, re-runs the selected answered requests on `model_ref`, writes the comparison."""
    import csv
    import json

    from agents.processes.broker import resolve_bootstrap_servers
    from agents.tools.audit.reexecute import Reexecution, reexecute, summary

    verifier = ChainVerifier(settings.audit_keys())
    events = list(select_events(_records(settings, topic, on_progress), filters, verifier=verifier))
    report = verifier.report()
    results = reexecute(settings, resolve_bootstrap_servers(settings), events, model_ref, retrieval_url=retrieval_url)
    rows = [r.to_json() for r in results]
    if fmt == "html":
        write_html(events, out, topic=topic, filters=filters, report=report, reexecution=(model_ref, rows))
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(Reexecution.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)
    else:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return ReplayOutcome(len(events), report), summary(results)


@contextmanager
def output_file(path: Path) -> Iterator[TextIO]:
    """A text file that appears at `path` only once written completely (no half report after a failed read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
