"""`sluice audit verify`, `replay` and `prove`: read the audit topic once, verify its chain, select, prove, write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from agents.audit_chain.checkpoints import SignedHead
from agents.core.audit_keys import CheckpointKeys
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
from agents.tools.audit.verify import Bounds, ChainVerifier
from schemas.errors import ConfigurationError

Progress = Callable[[int], None]
BoundsSink = Callable[[dict[int, tuple[int, int]]], None]


def _records(
    settings: Settings, topic: str, on_progress: Progress | None, on_bounds: BoundsSink | None = None
) -> Iterator[tuple[int, int, bytes | None]]:
    from agents.processes.broker import resolve_bootstrap_servers

    bootstrap = resolve_bootstrap_servers(settings)
    for record in read_audit_topic(
        bootstrap, topic, options=settings.kafka_client_config(), on_progress=on_progress, on_bounds=on_bounds
    ):
        yield record.partition, record.offset, record.value


def verify_topic(
    settings: Settings,
    topic: str,
    *,
    keys: CheckpointKeys | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    max_unauthenticated: int | None = None,
    expected_heads: Mapping[int, SignedHead] | None = None,
    on_progress: Progress | None = None,
) -> ChainReport:
    """Reads `topic` to its end and verifies every partition's chain (within the since/until window, if given).

    `keys` default to the settings' (SLUICE_AUDIT_PUBLIC_KEYS, else the local public keys); with no public key at
    all nothing could be authenticated, so that is a ConfigurationError. `max_unauthenticated` defaults to twice
    SLUICE_AUDIT_CHECKPOINT_EVERY.
    """
    keys = keys if keys is not None else settings.audit_checkpoint_keys()
    if not keys.public and not keys.hmac:
        raise ConfigurationError(
            "no key to verify checkpoints with: pass --public-key ID=BASE64 (the signing machine prints it with "
            "`sluice audit public-key`) or set SLUICE_AUDIT_PUBLIC_KEYS"
        )
    bound = max_unauthenticated if max_unauthenticated is not None else 2 * settings.audit_checkpoint_every
    verifier = ChainVerifier(
        keys, since=since, until=until, topic=topic, max_unauthenticated=bound, expected_heads=expected_heads
    )

    def bounds(found: dict[int, tuple[int, int]]) -> None:
        verifier.set_bounds({p: Bounds(low, end) for p, (low, end) in found.items()})

    for partition, offset, value in _records(settings, topic, on_progress, bounds):
        verifier.feed(partition, offset, value)
    return verifier.report()


def load_expected_heads(path: Path, keys: CheckpointKeys) -> dict[int, SignedHead]:
    """Signed tree heads recorded earlier: the JSON of an earlier `verify --json`, a proof, or a list of heads.

    Each must verify under `keys` (a head nobody signed proves nothing); per partition the largest tree counts.
    """
    import json

    from agents.audit_chain.checkpoints import verify_signed_head

    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read signed heads from {path}: {exc}") from None
    if isinstance(body, dict) and "partitions" in body:
        found = [p.get("signed_head") for p in body["partitions"] if isinstance(p, dict)]
    elif isinstance(body, dict) and "signed_head" in body:
        found = [body["signed_head"]]
    else:
        found = body if isinstance(body, list) else [body]
    heads: dict[int, SignedHead] = {}
    for details in found:
        if details is None:
            continue
        if not isinstance(details, dict):
            raise ConfigurationError(f"{path}: a signed head is not a JSON object")
        verdict = verify_signed_head(details, keys.public)
        if not verdict.valid or verdict.head is None:
            raise ConfigurationError(f"{path}: a signed head does not verify: {verdict.reason}")
        head = verdict.head
        if head.partition not in heads or heads[head.partition].tree_size < head.tree_size:
            heads[head.partition] = head
    return heads


def prove_event(
    settings: Settings,
    topic: str,
    event_id: str,
    *,
    keys: CheckpointKeys | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """An inclusion proof of `event_id` under the latest signed tree head covering it (agents/tools/audit/proof.py).

    With `keys` (or public keys in the settings) the head is verified before it is used.
    """
    from agents.tools.audit.proof import InclusionProver

    keys = keys if keys is not None else settings.audit_checkpoint_keys()
    prover = InclusionProver(topic, event_id)
    for partition, offset, value in _records(settings, topic, on_progress):
        prover.feed(partition, offset, value)
    return prover.prove(keys if keys.public else None)


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
    verifier = ChainVerifier(settings.audit_checkpoint_keys(), topic=topic)
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

    verifier = ChainVerifier(settings.audit_checkpoint_keys(), topic=topic)
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
