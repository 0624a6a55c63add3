"""Selects audit events for a compliance question and writes them as JSONL, CSV or one self-contained HTML page.

`select_events` is the seam other code builds on (a later `--reexecute MODEL@VERSION` takes its output): it yields
each selected event verbatim, as sealed, with the partition and offset it was read from. The writers render only
fields of the events themselves (audit events carry hashes, counts and types, never text) plus the verifier's
report; nothing else is looked up.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from agents.tools.audit.entries import event_time, parse_event
from agents.tools.audit.report import TAIL_NOTE, ChainReport
from agents.tools.audit.verify import ChainVerifier

ReplayFormat = Literal["jsonl", "csv", "html"]
FORMATS: tuple[ReplayFormat, ...] = ("jsonl", "csv", "html")

CSV_COLUMNS = (
    "partition",
    "offset",
    "seq",
    "emitted_at",
    "event_id",
    "event_type",
    "stage",
    "tenant",
    "subject_id",
    "source_topic",
    "source_partition",
    "source_offset",
    "entity_counts",
    "versions",
    "timings_ms",
    "details",
    "prev_hash",
    "hash",
)


@dataclass(frozen=True)
class ReplayFilter:
    """Which events to select. Different filters combine with AND; the values of one filter with OR.

    `subjects` selects record events whose `details.subjects` holds one of the pseudonyms, and every later event
    about those record ids (record.indexed, record.deleted, record.subject_suppressed, …), the requests whose
    retrieval returned one of those records (`details.retrieved` or `details.citations` of request.answered),
    and the subject's own events (subject.forgotten). Events about one record, and the requests that retrieved
    it, share its tenant and so its audit partition, which is read in order: "later" is well defined.
    """

    since: datetime | None = None
    until: datetime | None = None
    tenants: frozenset[str] = frozenset()
    request_ids: frozenset[str] = frozenset()
    record_ids: frozenset[str] = frozenset()
    subjects: frozenset[str] = frozenset()

    def describe(self) -> list[tuple[str, str]]:
        """(filter, value) pairs for reports; empty when everything is selected."""
        out: list[tuple[str, str]] = []
        if self.since:
            out.append(("since", self.since.isoformat()))
        if self.until:
            out.append(("until", self.until.isoformat()))
        for name, values in (
            ("tenant", self.tenants),
            ("request id", self.request_ids),
            ("record id", self.record_ids),
            ("subject", self.subjects),
        ):
            out.extend((name, value) for value in sorted(values))
        return out


@dataclass(frozen=True)
class SelectedEvent:
    """One selected event as sealed on the audit topic, with where it was read."""

    partition: int
    offset: int
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"partition": self.partition, "offset": self.offset, "event": self.event}


@dataclass
class Selector:
    """Applies a ReplayFilter to events in read order; remembers the record ids that `subjects` matched."""

    filters: ReplayFilter
    subject_records: set[str] = field(default_factory=set)

    def matches(self, event: dict[str, Any]) -> bool:
        f = self.filters
        event_type = str(event.get("event_type", ""))
        subject_id = event.get("subject_id")
        is_record, is_request = event_type.startswith("record."), event_type.startswith("request.")
        # Learn the subject's record ids before the other filters, so a later event in the window still matches.
        subject_ok = True
        if f.subjects:
            subject_ok = False
            if is_record and isinstance(subject_id, str):
                details = event.get("details")
                pseudonyms = details.get("subjects") if isinstance(details, dict) else None
                named = {p for p in pseudonyms if isinstance(p, str)} if isinstance(pseudonyms, list) else set()
                if f.subjects & named:
                    self.subject_records.add(subject_id)
                subject_ok = subject_id in self.subject_records
            elif is_request:  # a request that retrieved (and so may have shown the model) the subject's records
                subject_ok = not self.subject_records.isdisjoint(retrieved_records(event))
            elif event_type.startswith("subject."):  # subject.forgotten: its subject_id is the pseudonym
                subject_ok = subject_id in f.subjects
        if not subject_ok:
            return False
        if f.since or f.until:
            when = event_time(event)
            if when is None or (f.since and when < f.since) or (f.until and when > f.until):
                return False
        if f.tenants and event.get("tenant") not in f.tenants:
            return False
        if f.request_ids and not (is_request and subject_id in f.request_ids):
            return False
        return not f.record_ids or (is_record and subject_id in f.record_ids)


def retrieved_records(event: dict[str, Any]) -> set[str]:
    """The record ids a request event says its retrieval returned: `details.retrieved` (every record put in the
    prompt) and `details.citations` (those the answer cited; a subset, kept for events that carry only them)."""
    details = event.get("details")
    if not isinstance(details, dict):
        return set()
    ids: set[str] = set()
    for name in ("retrieved", "citations"):
        values = details.get(name)
        if isinstance(values, list):
            ids.update(v for v in values if isinstance(v, str))
    return ids


def select_events(
    records: Iterable[tuple[int, int, bytes | None]],
    filters: ReplayFilter,
    *,
    verifier: ChainVerifier | None = None,
) -> Iterator[SelectedEvent]:
    """The events of `records` (offset order per partition) that match `filters`; feeds `verifier` every record."""
    selector = Selector(filters)
    for partition, offset, value in records:
        if verifier is not None:
            event = verifier.feed(partition, offset, value)
        else:
            parsed = parse_event(value)
            event = parsed if isinstance(parsed, dict) else None
        if event is not None and selector.matches(event):
            yield SelectedEvent(partition, offset, event)


# --- writers ------------------------------------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def csv_row(selected: SelectedEvent) -> dict[str, str]:
    e = selected.event

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "partition": str(selected.partition),
        "offset": str(selected.offset),
        "seq": text(e.get("seq")),
        "emitted_at": text(e.get("emitted_at")),
        "event_id": text(e.get("event_id")),
        "event_type": text(e.get("event_type")),
        "stage": text(e.get("stage")),
        "tenant": text(e.get("tenant")),
        "subject_id": text(e.get("subject_id")),
        "source_topic": text(e.get("source_topic")),
        "source_partition": text(e.get("partition")),
        "source_offset": text(e.get("offset")),
        "entity_counts": _json(e.get("entity_counts", {})),
        "versions": _json(e.get("versions", {})),
        "timings_ms": _json(e.get("timings_ms", {})),
        "details": _json(e.get("details", {})),
        "prev_hash": text(e.get("prev_hash")),
        "hash": text(e.get("hash")),
    }


def write_jsonl(events: Iterable[SelectedEvent], out: TextIO) -> int:
    """One JSON object per line: {"partition", "offset", "event"}; `event` is verbatim, so its hash still checks."""
    count = 0
    for selected in events:
        out.write(json.dumps(selected.to_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(events: Iterable[SelectedEvent], out: TextIO) -> int:
    """Flat columns (CSV_COLUMNS); nested fields as compact JSON. Open `out` with newline=''."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for selected in events:
        writer.writerow(csv_row(selected))
        count += 1
    return count


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:2em;color:#1b1f23}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em}
.meta{color:#57606a}table{border-collapse:collapse;margin:.4em 0}
th,td{border:1px solid #d0d7de;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right}code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.note{color:#57606a;font-size:.92em}
table.events td{font-size:12.5px}
"""


def write_html(
    events: Sequence[SelectedEvent],
    out: TextIO,
    *,
    topic: str,
    filters: ReplayFilter,
    report: ChainReport,
    generated_at: datetime | None = None,
    reexecution: tuple[str, Sequence[Mapping[str, Any]]] | None = None,
) -> int:
    """One self-contained page (inline CSS, no script, no external resources); every value HTML-escaped.

    `reexecution` = (model, rows of agents/audit/reexecute.Reexecution.to_json()) adds a section saying which
    answers that model would give differently.
    """

    def esc(value: Any) -> str:
        return html.escape("" if value is None else str(value), quote=True)

    def row(cells: Iterable[Any], *, header: bool = False, numeric: Sequence[int] = ()) -> str:
        tag = "th" if header else "td"
        parts = []
        for index, cell in enumerate(cells):
            cls = ' class="num"' if index in numeric and not header else ""
            parts.append(f"<{tag}{cls}>{cell}</{tag}>")
        return "<tr>" + "".join(parts) + "</tr>"

    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    verdict = (
        '<span class="ok">intact</span>'
        if report.intact
        else f'<span class="bad">{len(report.problems)} problem(s) found</span>'
    )
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Sluice audit replay: {esc(topic)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Sluice audit replay: {esc(topic)}</h1>",
        f'<p class="meta">Generated {esc(when)}. {len(events)} event(s) selected.</p>',
        "<h2>Filters</h2>",
    ]
    described = filters.describe()
    if described:
        lines.append("<table>" + row(["filter", "value"], header=True))
        lines.extend(row([esc(name), f"<code>{esc(value)}</code>"]) for name, value in described)
        lines.append("</table>")
    else:
        lines.append("<p>None: every event of the topic.</p>")

    lines.append("<h2>Chain verification</h2>")
    lines.append(f"<p>All partitions read from the start: {verdict}.</p>")
    headers = ["partition", "verdict", "events", "offsets", "seq", "checkpoints verified", "unauthenticated tail"]
    lines.append("<table>" + row(headers, header=True))
    for p in report.partitions:
        lines.append(
            row(
                [
                    esc(p.partition),
                    '<span class="ok">intact</span>'
                    if p.intact
                    else f'<span class="bad">{len(p.problems)} problem(s)</span>',
                    esc(p.events),
                    f"{esc(p.first_offset)}–{esc(p.last_offset)}",
                    f"{esc(p.first_seq)}–{esc(p.last_seq)}",
                    esc(p.checkpoints_verified),
                    esc(p.unauthenticated_tail),
                ],
                numeric=(0, 2, 5, 6),
            )
        )
    lines.append("</table>")
    if report.problems:
        header = ["partition", "offset", "seq", "event type", "tenant", "kind", "detail"]
        lines.append("<table>" + row(header, header=True))
        lines.extend(
            row(
                [
                    esc(x.partition),
                    esc(x.offset),
                    esc(x.event.seq),
                    esc(x.event.event_type),
                    esc(x.event.tenant),
                    esc(x.kind),
                    esc(x.detail),
                ],
                numeric=(0, 1, 2),
            )
            for x in report.problems
        )
        lines.append("</table>")
    lines.append(f'<p class="note">Note: {esc(TAIL_NOTE)}.</p>')

    lines.append("<h2>Events by type</h2>")
    counts = Counter(str(s.event.get("event_type")) for s in events)
    lines.append("<table>" + row(["event type", "events"], header=True))
    lines.extend(row([esc(t), esc(n)], numeric=(1,)) for t, n in sorted(counts.items()))
    lines.append("</table>")

    lines.append("<h2>Selected events</h2>")
    columns = [
        "partition",
        "offset",
        "seq",
        "emitted_at",
        "event_type",
        "stage",
        "tenant",
        "subject_id",
        "source",
        "entity_counts",
        "versions",
        "details",
        "hash",
    ]
    lines.append('<table class="events">' + row(columns, header=True))
    for selected in events:
        r = csv_row(selected)
        source = ":".join(x for x in (r["source_topic"], r["source_partition"], r["source_offset"]) if x)
        lines.append(
            row(
                [
                    esc(r["partition"]),
                    esc(r["offset"]),
                    esc(r["seq"]),
                    esc(r["emitted_at"]),
                    esc(r["event_type"]),
                    esc(r["stage"]),
                    esc(r["tenant"]),
                    f"<code>{esc(r['subject_id'])}</code>",
                    esc(source),
                    f"<code>{esc(r['entity_counts'])}</code>",
                    f"<code>{esc(r['versions'])}</code>",
                    f"<code>{esc(r['details'])}</code>",
                    f'<code title="{esc(r["hash"])}">{esc(r["hash"][:16])}…</code>' if r["hash"] else "",
                ],
                numeric=(0, 1, 2),
            )
        )
    lines.append("</table>")
    if reexecution is not None:
        model, rows = reexecution
        differ = sum(r.get("same") is False for r in rows)
        lines.append(f"<h2>Re-execution on {esc(model)} (greedy)</h2>")
        lines.append(
            f"<p>{len(rows)} answered request(s) run again: "
            f"{sum(r.get('same') is True for r in rows)} same, "
            f'<span class="{"bad" if differ else "ok"}">{differ} would differ</span>, '
            f"{sum(r.get('same') is None for r in rows)} not comparable. "
            "Answers are compared by SHA-256; no text is shown.</p>"
        )
        keys = ["request_id", "session", "recorded_model", "status", "completion_tokens", "same"]
        lines.append('<table class="events">' + row(keys, header=True))
        lines.extend(row([esc(r.get(k)) for k in keys], numeric=(4,)) for r in rows)
        lines.append("</table>")
    lines.append("</body></html>")
    out.write("\n".join(lines) + "\n")
    return len(events)
