"""Asking Sluice's inference flow through Kafka as any application would: the demo's chat and the benches' load."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from typing import Any

from tqdm import tqdm

from agents.core.kafka_io import TopicFollower, produce_all, producer
from agents.core.settings import Settings
from schemas.errors import SluiceError
from schemas.inference import InferenceRequest
from topics.specs import INFERENCE_REQUESTS, INFERENCE_RESPONSES

# A response and the monotonic time it arrived.
Answer = tuple[float, dict[str, Any]]


class Partials:
    """The partial responses of streamed requests as a client sees them: deduplicated by seq, order checked, and
    when the first one arrived (the client-seen time to first text)."""

    def __init__(self) -> None:
        self.texts: dict[str, dict[int, str]] = {}
        self.first_at: dict[str, float] = {}
        self.out_of_order: set[str] = set()

    def add(self, arrived: float, body: dict[str, Any]) -> None:
        request_id, seq = str(body.get("request_id")), int(body.get("seq") or 0)
        texts = self.texts.setdefault(request_id, {})
        if seq in texts:  # a repeat: already have it
            return
        if seq != len(texts):  # not the next one: a gap, or an earlier one late
            self.out_of_order.add(request_id)
        texts[seq] = str(body.get("text") or "")
        self.first_at.setdefault(request_id, arrived)

    def text(self, request_id: str) -> str:
        """The streamed text so far: the partials up to the first gap, in seq order."""
        texts = self.texts.get(request_id, {})
        out: list[str] = []
        while len(out) in texts:
            out.append(texts[len(out)])
        return "".join(out)


def request_message(
    request_id: str,
    tenant: str,
    prompt: str,
    *,
    max_tokens: int,
    session_id: str | None = None,
    temperature: float | None = None,
    deadline_ms: int | None = None,
    stream: bool = False,
) -> tuple[bytes, bytes]:
    """(key, value) of one request, checked against the topic's contract (pydantic raises on a bad field). The
    key is the session; without `session_id` each request is a session of its own, so no turn waits for another.
    `temperature` and `deadline_ms` are sent only when given: the worker's defaults apply otherwise; `stream`
    asks for partial responses."""
    session = session_id or f"{request_id}-s"
    body: dict[str, Any] = {
        "request_id": request_id,
        "tenant": tenant,
        "session_id": session,
        "prompt": prompt,
        "max_tokens": max_tokens,
    }
    body.update({k: v for k, v in (("temperature", temperature), ("deadline_ms", deadline_ms)) if v is not None})
    if stream:
        body["stream"] = True
    return session.encode(), InferenceRequest.model_validate(body).model_dump_json(exclude_unset=True).encode()


class InferenceClient:
    """Requests onto inference.requests.v1 as `tenant`, and the first response per request id from
    inference.responses.v1, with plain Kafka clients. Responses already on the topic when it starts are skipped.
    Partial responses (streamed requests) are not answers: they are kept in `partials`.
    """

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        tenant: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        deadline_ms: int | None = None,
        stream: bool = False,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.partials = Partials()
        self.bootstrap = bootstrap
        self.tenant = tenant
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.deadline_ms = deadline_ms
        self.options = settings.kafka_client_config()
        self.follower = TopicFollower(bootstrap, [INFERENCE_RESPONSES.name], self.options)
        while self.follower.poll(1.0):  # skip older responses before any clock starts
            pass
        self.producer = producer(bootstrap, self.options)  # for ask_one: flushed at once, whatever linger

    def request(
        self,
        request_id: str,
        prompt: str,
        *,
        tenant: str | None = None,
        session_id: str | None = None,
        max_tokens: int | None = None,
    ) -> tuple[bytes, bytes]:
        """(key, value) of one request as this client asks it; see `request_message`."""
        return request_message(
            request_id,
            tenant or self.tenant,
            prompt,
            session_id=session_id,
            max_tokens=self.max_tokens if max_tokens is None else max_tokens,
            temperature=self.temperature,
            deadline_ms=self.deadline_ms,
            stream=self.stream,
        )

    def send(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce (key, value) requests all at once; raises if one is not delivered."""
        produce_all(
            self.bootstrap,
            ((INFERENCE_REQUESTS.name, key, value) for key, value in messages),
            options=self.options,
        )

    def timeout_error(self, desc: str, found: int, wanted: int, timeout_s: float) -> SluiceError:
        return SluiceError(
            f"{desc}: {found} of {wanted} responses within {timeout_s:.0f}s; "
            f"see {self.settings.run_dir}/inference-0.log"
        )

    def collect(
        self,
        ids: Collection[str],
        timeout_s: float,
        desc: str,
        *,
        partial: bool = False,
        bar: tqdm[Any] | None = None,
    ) -> dict[str, Answer]:
        """First response per request id; on timeout raises, or with `partial` returns what arrived (maybe
        nothing). Progress goes to `bar` when given, else to a bar of its own named `desc`."""
        found: dict[str, Answer] = {}
        deadline = time.monotonic() + timeout_s
        # A bar of its own only when none is given (a disabled bar prints nothing).
        with tqdm(total=len(ids), unit="resp", desc=desc, leave=False, disable=bar is not None or len(ids) < 2) as own:
            progress = own if bar is None else bar
            while len(found) < len(ids):
                if time.monotonic() > deadline:
                    if partial:
                        break
                    raise self.timeout_error(desc, len(found), len(ids), timeout_s)
                for record in self.follower.poll(0.2):
                    arrived = time.monotonic()
                    body = json.loads(record.value or b"{}")
                    request_id = body.get("request_id")
                    if body.get("status") == "partial":
                        if request_id in ids:
                            self.partials.add(arrived, body)
                        continue
                    if request_id in ids and request_id not in found:
                        found[request_id] = (arrived, body)
                        progress.update(1)
        return found

    def ask_one(
        self,
        request_id: str,
        prompt: str,
        timeout_s: float,
        *,
        session_id: str | None = None,
        max_tokens: int | None = None,
    ) -> tuple[float, dict[str, Any]]:
        """One request, produced and flushed at once; (client-measured milliseconds, response)."""
        key, value = self.request(request_id, prompt, session_id=session_id, max_tokens=max_tokens)
        started = time.monotonic()
        self.producer.produce(INFERENCE_REQUESTS.name, key=key, value=value)
        if self.producer.flush(30) != 0:
            raise SluiceError(f"could not produce {request_id} within 30s")
        arrived, body = self.collect({request_id}, timeout_s, f"response {request_id}")[request_id]
        return (arrived - started) * 1000, body

    def close(self) -> None:
        self.follower.close()
