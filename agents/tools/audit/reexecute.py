"""`sluice audit replay --reexecute MODEL@VERSION`: run recorded requests again and say which answers would differ.

The audit stream holds no text, only where each request came from (topic, partition, offset) and the keyed
digest of the answer that was sent (`text_sha256`: HMAC-SHA256 under the digest key derived from the pseudonym
key). Re-execution reads the original requests from their topic, runs them through the same pipeline the inference
worker runs (agents/inference/serving.build_service: de-identification, policy, retrieval, template, batcher) on
the chosen model version with greedy decoding, and compares the digest of each new answer with the recorded one
under the same key (so it needs the pseudonym key the workers had). Events recorded before digests were keyed
hold a bare SHA-256 and are compared as such. Reports carry ids, digests and token counts, never prompts or
answers.

What it can and cannot reproduce: a session's earlier turns are rebuilt from the re-executed answers (the history
that was stored is not kept anywhere in clear); retrieval asks today's index (`--retrieval-url`, or none), which
may have changed since. A difference therefore means "this model, on today's context, answers differently";
identical hashes mean the answer is reproducible.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agents.core.messages import SourcePosition
from agents.core.settings import Settings
from agents.tools.audit.replay import SelectedEvent
from schemas.errors import SluiceError

ANSWERED = "request.answered"


@dataclass(frozen=True)
class Reexecution:
    """One request run again: enough to tell whether its answer is reproducible, nothing of its text."""

    request_id: str
    tenant: str | None
    session: str
    recorded_model: str | None
    recorded_sha256: str | None
    model: str
    status: str
    sha256: str | None
    completion_tokens: int
    same: bool | None  # None: the recorded event has no answer hash to compare with

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_model_ref(ref: str) -> tuple[str, str]:
    name, sep, version = ref.partition("@")
    if not sep or not name or not version:
        raise SluiceError(f"--reexecute takes MODEL@VERSION (see `sluice models list`), got {ref!r}")
    return name, version


def answered_requests(selected: Iterable[SelectedEvent]) -> list[dict[str, Any]]:
    """The selected `request.answered` events that were answered by a model (status ok), in stream order."""
    return [
        s.event
        for s in selected
        if s.event.get("event_type") == ANSWERED
        and (s.event.get("details") or {}).get("status") == "ok"
        and s.event.get("source_topic") is not None
        and s.event.get("offset") is not None
    ]


def fetch_requests(
    bootstrap: str, events: Sequence[dict[str, Any]], options: dict[str, str]
) -> dict[tuple[str, int, int], bytes | None]:
    """The original request bytes at each recorded (topic, partition, offset)."""
    from agents.core.kafka_io import read_topic

    wanted: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for event in events:
        wanted[event["source_topic"]][int(event["partition"])].add(int(event["offset"]))
    found: dict[tuple[str, int, int], bytes | None] = {}
    for topic, partitions in wanted.items():
        start = {p: min(offsets) for p, offsets in partitions.items()}
        for record in read_topic(bootstrap, topic, options=options, start=start):
            if record.offset in partitions.get(record.partition, ()):
                found[(topic, record.partition, record.offset)] = record.value
    return found


def recorded_matches(recorded: str, text: str, digest: Callable[[str], str]) -> bool:
    """Whether a recorded answer digest is that of `text`: keyed, or a bare SHA-256 for events recorded before
    digests were keyed (the two cannot be confused: a keyed digest equal to the bare one would break HMAC)."""
    return recorded in (digest(text), hashlib.sha256(text.encode("utf-8")).hexdigest())


async def _rerun(
    settings: Settings,
    model_ref: str,
    events: Sequence[dict[str, Any]],
    originals: dict[tuple[str, int, int], bytes | None],
    retrieval_url: str | None,
    on_done: Callable[[int], None] | None,
) -> list[Reexecution]:
    from agents.api.client import IndexApi, IndexApiRetriever
    from agents.inference.decode import InvalidRequest, Unanswerable, decode_request
    from agents.inference.service import ModelRouter, ServingModel
    from agents.inference.serving import build_batcher, build_service
    from models.dialog import PolicyEngine, SessionHistory, load_default_policy
    from models.registry import open_generator

    name, version = parse_model_ref(model_ref)
    generator = open_generator(settings.resolved_registry_dir, name, version, intra_threads=settings.generate_threads)
    router = ModelRouter({model_ref: ServingModel(model_ref, generator)}, {model_ref: 1.0})
    batcher = build_batcher(settings, router)
    policy = PolicyEngine([load_default_policy()])
    # Re-execution retrieves as the inference worker did, for each request's own tenant: the service credential.
    retriever = (
        IndexApiRetriever(IndexApi(retrieval_url, token=settings.api_service_secret(), timeout_s=5.0))
        if retrieval_url
        else None
    )
    service = build_service(settings, router, batcher, lambda: policy, retriever)
    await batcher.start()

    # Grouped the way the worker keeps sessions: by (tenant, session_id); a one-turn request is a group of its own.
    by_session: dict[tuple[str, str] | int, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
    results: list[Reexecution] = []
    for index, event in enumerate(events):
        where = (event["source_topic"], int(event["partition"]), int(event["offset"]))
        position = SourcePosition(*where, None, originals.get(where))
        request = decode_request(position, max_bytes=settings.max_message_bytes)
        if isinstance(request, Unanswerable | InvalidRequest) or originals.get(where) is None:
            results.append(_unavailable(event, model_ref))
            continue
        greedy = request.model_copy(update={"temperature": 0.0})
        group = (greedy.tenant, greedy.session_id) if greedy.session_id else index
        by_session[group].append((event, greedy))

    async def session_turns(turns: list[tuple[dict[str, Any], Any]]) -> list[Reexecution]:
        history = SessionHistory()
        out = []
        for event, request in turns:
            handled = await service.handle(request, produced_at=time.time(), history=history)
            history = handled.history or history
            out.append(_compare(event, request.session, handled.response, model_ref, service.digest))
            if on_done is not None:
                on_done(1)
        return out

    for turns in await asyncio.gather(*(session_turns(t) for t in by_session.values())):
        results.extend(turns)
    await batcher.drain()
    return results


def _compare(
    event: dict[str, Any], session: str, response: Any, model_ref: str, digest: Callable[[str], str]
) -> Reexecution:
    recorded = (event.get("details") or {}).get("text_sha256")
    ok = response.status == "ok"
    sha = digest(response.text) if ok else None
    return Reexecution(
        request_id=str(event["subject_id"]),
        tenant=event.get("tenant"),
        session=session,
        recorded_model=(event.get("versions") or {}).get("model"),
        recorded_sha256=recorded,
        model=model_ref,
        status=response.status,
        sha256=sha,
        completion_tokens=response.tokens.completion,
        same=None if recorded is None else ok and recorded_matches(str(recorded), response.text, digest),
    )


def _unavailable(event: dict[str, Any], model_ref: str) -> Reexecution:
    # The request is no longer on its topic (retention) or no longer decodes: nothing to run.
    return Reexecution(
        request_id=str(event["subject_id"]),
        tenant=event.get("tenant"),
        session="",
        recorded_model=(event.get("versions") or {}).get("model"),
        recorded_sha256=(event.get("details") or {}).get("text_sha256"),
        model=model_ref,
        status="original_unavailable",
        sha256=None,
        completion_tokens=0,
        same=None,
    )


def reexecute(
    settings: Settings,
    bootstrap: str,
    selected: Iterable[SelectedEvent],
    model_ref: str,
    *,
    retrieval_url: str | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Reexecution]:
    """Re-run every selected answered request on `model_ref` (greedy) and compare answer hashes."""
    parse_model_ref(model_ref)
    events = answered_requests(selected)
    if not events:
        return []
    originals = fetch_requests(bootstrap, events, settings.kafka_client_config())
    return asyncio.run(_rerun(settings, model_ref, events, originals, retrieval_url, on_done))


def summary(results: Sequence[Reexecution]) -> dict[str, int]:
    return {
        "reexecuted": sum(r.status != "original_unavailable" for r in results),
        "same": sum(r.same is True for r in results),
        "differ": sum(r.same is False for r in results),
        "not_comparable": sum(r.same is None for r in results),
    }
