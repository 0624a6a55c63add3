"""Bad input on every topic Sluice consumes, generated with hypothesis and produced to the real broker.

Whatever arrives ends in an outcome that names where it came from (a dead letter with its topic, partition and
offset, or an error response to a request that carries a request_id), and the workers keep running.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message, Producer
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from agents.core.control import CompactedTopicWatcher
from agents.core.dead_letters import dead_letter_builder, dead_letter_sink
from agents.core.kafka_io import end_offsets, read_topic
from agents.core.settings import Settings
from agents.processes import runtime
from schemas.inference import InferenceRequest, RegistryMessage
from schemas.records import AuditEvent, CrmEvent, DeidentifiedRecord, ErpEvent, LogEvent, RulePackMessage
from tests.integration.conftest import api, wait_for
from tests.integration.helpers import event, produce, worker_child
from topics.specs import TOPIC_MAX_MESSAGE_BYTES

EXAMPLES_PER_KIND = 3  # 39-42 messages per topic
OUTCOME_TIMEOUT_S = 90
RID = "__RID__"  # replaced by a unique request id after generation, where a message still carries it
BROKER_MAX_BYTES = TOPIC_MAX_MESSAGE_BYTES - 8_000  # every topic's max.message.bytes, minus headroom for the header
DEAD_LETTER_TOPICS = ("ingest.dlq.v1", "inference.dlq.v1")


@dataclass(frozen=True)
class Contract:
    """A topic, a valid message for it, the fields bad variants break, and values that break them."""

    topic: str
    valid: dict[str, Any]
    required: tuple[str, ...]
    wrong_values: tuple[tuple[str, Any], ...]
    text_path: tuple[str, ...]  # a string field where bad bytes, surrogates and huge strings go
    nullable: tuple[str, ...] = ()  # required fields where null means something (a deletion)
    compacted: bool = False
    limit_factor: int = 1  # the topic's size limit in units of SLUICE_MAX_MESSAGE_BYTES


ENVELOPE = {"event_id": "e-1", "tenant": "acme", "occurred_at": "2026-11-20T09:30:00+08:00"}
SOURCE_WRONG = (
    ("tenant", "bad tenant!"),
    ("tenant", 'acme" or tenant != "'),
    ("event_id", ""),
    ("event_id", "x" * 200),
    ("occurred_at", "2026-11-20T09:30:00"),  # no UTC offset
    ("occurred_at", "yesterday"),
)
LINEAGE = {
    "source": "crm",
    "topic": "crm.events.v1",
    "partition": 0,
    "offset": 1,
    "event_id": "e-1",
    "tenant": "acme",
    "occurred_at": "2026-11-20T01:30:00Z",
}
CONTRACTS = (
    Contract(
        "erp.events.v1",
        {**ENVELOPE, "payload": {"doc_type": "order", "doc_no": "SO-1", "remarks": "free text"}},
        ("event_id", "tenant", "occurred_at", "payload"),
        (*SOURCE_WRONG, ("payload", {"doc_type": "memo", "doc_no": "SO-1"}), ("payload", {"doc_type": "order"})),
        ("payload", "remarks"),
        nullable=("payload",),
    ),
    Contract(
        "crm.events.v1",
        {**ENVELOPE, "payload": {"customer_id": "C-1", "channel": "phone", "notes": "free text"}},
        ("event_id", "tenant", "occurred_at", "payload"),
        (*SOURCE_WRONG, ("payload", {"customer_id": "C-1", "channel": "fax"}), ("payload", {"channel": "phone"})),
        ("payload", "notes"),
        nullable=("payload",),
    ),
    Contract(
        "logs.events.v1",
        {**ENVELOPE, "payload": {"level": "INFO", "service": "billing", "message": "free text"}},
        ("event_id", "tenant", "occurred_at", "payload"),
        (*SOURCE_WRONG, ("payload", {"level": "LOUD", "service": "b", "message": "m"}), ("payload", {"level": "INFO"})),
        ("payload", "message"),
        nullable=("payload",),
    ),
    Contract(
        "records.deidentified.v1",
        {
            "record_id": "rec_0123456789abcdef0123456789abcdef",
            "tenant": "acme",
            "kind": "crm.note",
            "text": "customer C-1 via phone",
            "rule_pack_version": "base@1.0.0",
            "deid_version": "deid-3",
            "lineage": LINEAGE,
            "processed_at": "2026-11-20T01:30:01Z",
        },
        ("record_id", "tenant", "kind", "text", "rule_pack_version", "deid_version", "lineage", "processed_at"),
        (
            ("tenant", 'acme" or tenant != "'),  # the schema takes any string; the store refuses it
            ("tenant", ""),
            ("lineage", {**LINEAGE, "source": "fax"}),
            ("processed_at", "yesterday"),
            ("deleted", "maybe"),
        ),
        ("text",),
        limit_factor=4,
    ),
    Contract(
        "inference.requests.v1",
        {"request_id": RID, "tenant": "acme", "session_id": "s-1", "prompt": "where is my order?", "max_tokens": 4},
        ("request_id", "tenant", "prompt"),
        (
            ("prompt", ""),
            ("tenant", "bad tenant!"),
            ("max_tokens", 0),
            ("max_tokens", 100_000),
            ("temperature", -1),
            ("task", "dance"),
            ("deadline_ms", 0),
            ("reply_to", "Not A Topic"),
            ("reply_to", "zz.nowhere.v1"),  # well-formed, but no such topic: answered on inference.responses.v1
        ),
        ("prompt",),
    ),
    Contract(
        "rules.v1",
        {"name": "zz-bad", "kind": "cleaning", "pack": {"name": "zz-bad", "version": "1.0.0", "rules": [{"id": "r"}]}},
        ("name", "kind", "pack"),
        (
            ("kind", "firewall"),
            ("pack", {"name": "zz-bad", "version": "not-semver", "rules": []}),
            ("pack", {"name": "zz-other", "version": "1.0.0", "rules": []}),  # differs from the message name
            ("pack", {"name": "zz-bad", "version": "1.0.0", "rules": [{"id": "r", "kind": "regex", "pattern": "("}]}),
        ),
        ("name",),
        nullable=("pack",),
        compacted=True,
    ),
    Contract(
        # A well-formed message for the served model that names a version the registry does not hold.
        "models.registry.v1",
        {"name": "tiny-llama", "state": {"promoted": "zz-missing", "weights": {}}},
        ("name", "state"),
        (
            ("state", {"promoted": None, "weights": {}}),
            ("state", {"promoted": "zz-missing", "weights": {"zz-missing": "heavy"}}),
            ("state", {"weights": [1, 2]}),
        ),
        # Strings go where the served model reads them: a message about another model is not this worker's.
        ("state", "promoted"),
        nullable=("state",),
        compacted=True,
    ),
    Contract(
        # Drafts for the audit chainer: only Sluice's workers should write here, so anything else is a dead letter.
        "audit.pending.v1",
        {
            "event_id": "e-1",
            "event_type": "record.indexed",
            "stage": "index",
            "subject_id": "rec_1",
            "tenant": "acme",
            "emitted_at": "2026-11-20T01:30:00Z",
        },
        ("event_id", "event_type", "stage", "subject_id", "tenant", "emitted_at"),
        (
            ("seq", 0),  # a draft never carries chain fields: they are the chainer's
            ("hash", "forged"),
            ("entity_counts", {"PERSON": "many"}),
            ("emitted_at", "yesterday"),
        ),
        ("subject_id",),
        nullable=("tenant",),
    ),
)
VALID_MODELS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "erp.events.v1": ErpEvent.model_validate,
    "crm.events.v1": CrmEvent.model_validate,
    "logs.events.v1": LogEvent.model_validate,
    "records.deidentified.v1": DeidentifiedRecord.model_validate,
    "inference.requests.v1": lambda d: InferenceRequest.model_validate({**d, "request_id": "r"}),
    "rules.v1": RulePackMessage.model_validate,
    "models.registry.v1": RegistryMessage.model_validate,
    "audit.pending.v1": AuditEvent.model_validate,
}

# Values of a type no field accepts where a scalar or a record is due (None is never among them: for some
# fields it is meaningful, e.g. a tombstone's payload).
WRONG_TYPES = st.one_of(
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4).map(lambda k: f"zz{k}"), st.integers(), max_size=2),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
# JSON of the wrong shape: anything but an object, or an object whose keys are none a contract knows.
WRONG_SHAPES = st.one_of(
    JSON_SCALARS,
    st.recursive(
        JSON_SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=5).map(lambda k: f"zz{k}"), children, min_size=1, max_size=3),
        ),
        max_leaves=8,
    ),
)
BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\x80abc", "手机号".encode("gbk"))


def encode(message: dict[str, Any], *, ascii_only: bool = False) -> bytes:
    return json.dumps(message, ensure_ascii=ascii_only).encode()


def with_text(message: dict[str, Any], path: tuple[str, ...], text: str) -> dict[str, Any]:
    """A copy of the message with the string at `path` (keys into nested objects) replaced."""
    head, *rest = path
    return {**message, head: with_text(message[head], tuple(rest), text) if rest else text}


def with_raw(message: dict[str, Any], field: str, raw: bytes) -> bytes:
    """The message with one field's JSON value replaced by raw bytes (which need not be valid JSON or UTF-8)."""
    marker = "__RAW_VALUE__"
    return encode({**message, field: marker}).replace(f'"{marker}"'.encode(), raw)


KINDS = (
    "drop_field",
    "wrong_type",
    "wrong_value",
    "unknown_field",
    "null_field",
    "surrogate",
    "huge_integer",
    "deep_nesting",
    "huge_string",
    "broken_utf8",
    "truncated",
    "random_bytes",
    "wrong_shape",
    "null_value",
)


def kinds_for(contract: Contract) -> tuple[str, ...]:
    # A compacted topic takes no null key, and a null value there is a deletion, not bad input.
    return tuple(kind for kind in KINDS if not (contract.compacted and kind == "null_value"))


@st.composite
def bad_message(
    draw: st.DrawFn, contract: Contract, max_bytes: int, kind: str
) -> tuple[str, bytes | None, bytes | None]:
    """(what was broken, Kafka key, Kafka value) for one bad message of the given kind."""
    valid = contract.valid
    limit = max_bytes * contract.limit_factor
    value: bytes | None
    if kind == "drop_field":
        field = draw(st.sampled_from(contract.required))
        value = encode({k: v for k, v in valid.items() if k != field})
    elif kind == "wrong_type":
        value = encode({**valid, draw(st.sampled_from(contract.required)): draw(WRONG_TYPES)})
    elif kind == "wrong_value":
        field, wrong = draw(st.sampled_from(contract.wrong_values))
        value = encode({**valid, field: wrong})
    elif kind == "unknown_field":
        value = encode({**valid, f"zz_{draw(st.text(max_size=6))}": draw(JSON_SCALARS)})
    elif kind == "null_field":
        value = encode(
            {**valid, draw(st.sampled_from([f for f in contract.required if f not in contract.nullable])): None}
        )
    elif kind == "surrogate":
        # JSON with ensure_ascii spells a lone surrogate as an escape (\ud800): valid JSON, but not Unicode text.
        text = "x" + chr(0xD800) + draw(st.sampled_from(["", "y", chr(0xDFFF) + chr(0xD800)]))
        ids = [(f,) for f in ("request_id", "session_id") if f in valid]
        value = encode(with_text(valid, draw(st.sampled_from([contract.text_path, *ids])), text), ascii_only=True)
    elif kind == "huge_integer":
        digits = draw(st.integers(min_value=4_301, max_value=20_000))
        value = with_raw(valid, draw(st.sampled_from(contract.required)), b"9" * digits)
    elif kind == "deep_nesting":
        depth = draw(st.sampled_from([1_000, 10_000, 100_000]))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        nested = opener * depth + b"1" + closer * depth
        value = nested if draw(st.booleans()) else with_raw(valid, draw(st.sampled_from(contract.required)), nested)
    elif kind == "huge_string":
        size = min(limit + draw(st.integers(min_value=1, max_value=20_000)), BROKER_MAX_BYTES - 2_000)
        value = encode(with_text(valid, contract.text_path, "x" * size))
    elif kind == "broken_utf8":
        bad = draw(st.sampled_from(BAD_UTF8))
        value = encode(with_text(valid, contract.text_path, "__BAD__")).replace(b"__BAD__", bad)
    elif kind == "truncated":
        whole = encode(valid)
        value = whole[: draw(st.integers(min_value=0, max_value=len(whole) - 1))]
    elif kind == "random_bytes":
        value = draw(st.binary(max_size=300))
    elif kind == "wrong_shape":
        value = json.dumps(draw(WRONG_SHAPES)).encode()
    else:  # null_value
        value = None
    null_key = not contract.compacted and draw(st.booleans())
    return kind, None if null_key else b"k", value


def generate(contract: Contract, max_bytes: int) -> list[tuple[str, bytes | None, bytes | None]]:
    """EXAMPLES_PER_KIND bad messages of every kind for a contract, the same on every run (a fixed seed per topic,
    no example database, generation only: there is nothing to shrink against a broker)."""
    found: list[tuple[str, bytes | None, bytes | None]] = []

    @seed(zlib.crc32(contract.topic.encode()))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_KIND,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.tuples(*(bad_message(contract, max_bytes, kind) for kind in kinds_for(contract))))
    def collect(messages: tuple[tuple[str, bytes | None, bytes | None], ...]) -> None:
        found.extend(messages)

    collect()
    return found


@dataclass(frozen=True)
class Sent:
    topic: str
    kind: str
    partition: int
    offset: int
    request_id: str | None


def produce_bad(bootstrap: str, tenant: str, settings: Settings) -> list[Sent]:
    """Every contract's bad messages in one batch; the partition and offset of each come from its delivery."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": BROKER_MAX_BYTES, "linger.ms": 20})
    sent: list[Sent] = []
    errors: list[str] = []
    for contract in CONTRACTS:
        for index, (kind, key, value) in enumerate(generate(contract, settings.max_message_bytes)):
            name = f"{tenant}-{contract.topic.split('.')[0]}-{index}"
            request_id = name if value is not None and RID.encode() in value else None
            if value is not None:
                value = value.replace(RID.encode(), name.encode())
            if key is not None:
                key = f"zz-{name}".encode()  # unique, so a compacted topic keeps every bad message apart

            def delivered(err: Any, msg: Message, kind: str = kind, request_id: str | None = request_id) -> None:
                if err is not None:
                    errors.append(f"{msg.topic()} {kind}: {err}")
                    return
                partition, offset = msg.partition(), msg.offset()
                assert partition is not None and offset is not None
                sent.append(Sent(msg.topic() or "", kind, partition, offset, request_id))

            producer.produce(contract.topic, key=key, value=value, on_delivery=delivered)
            producer.poll(0)
    assert producer.flush(60) == 0 and not errors, errors
    return sent


def dead_letters(bootstrap: str, start: dict[str, dict[int, int]]) -> dict[tuple[str, int, int], list[dict[str, Any]]]:
    """Dead letters written since `start`, by the position of what they are about."""
    found: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
    for topic in DEAD_LETTER_TOPICS:
        for record in read_topic(bootstrap, topic, start=start[topic]):
            letter = json.loads(record.value or b"{}")
            where = (letter["source_topic"], letter["partition"], letter["offset"])
            found.setdefault(where, []).append({**letter, "dead_letter_topic": topic})
    return found


def answers(bootstrap: str, start: dict[int, int], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Responses written since `start` to requests whose id starts with `prefix`, duplicates kept."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in read_topic(bootstrap, "inference.responses.v1", start=start):
        response = json.loads(record.value or b"{}")
        if response.get("request_id", "").startswith(prefix):
            found.setdefault(response["request_id"], []).append(response)
    return found


def worker_pids(settings: Settings) -> dict[str, int | None]:
    """The worker processes themselves: their keep-alive supervisors would hide a crash and restart."""
    supervisors = {p["role"]: p["pid"] for p in runtime.status(settings)["processes"] if p["role"] != "broker"}
    return {role: worker_child(pid) for role, pid in supervisors.items()}


def test_every_bad_message_on_every_consumed_topic_ends_in_an_outcome_and_workers_survive(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    for contract in CONTRACTS:  # the contracts' messages are valid: only the generated changes make them bad
        VALID_MODELS[contract.topic](contract.valid)
    pids = worker_pids(settings)
    assert {"deidentify", "index", "inference", "audit"} <= set(pids) and None not in pids.values()
    start = {topic: end_offsets(bootstrap, topic) for topic in DEAD_LETTER_TOPICS}
    responses_start = end_offsets(bootstrap, "inference.responses.v1")

    sent = produce_bad(bootstrap, tenant, settings)
    assert {s.topic for s in sent} == {c.topic for c in CONTRACTS}
    assert any(s.request_id for s in sent), "some bad requests must carry a request_id to answer"

    def missing() -> list[Sent]:
        letters = dead_letters(bootstrap, start)
        answered = answers(bootstrap, responses_start, f"{tenant}-")
        out = []
        for s in sent:
            where = (s.topic, s.partition, s.offset)
            if where in letters or (s.request_id and s.request_id in answered):
                continue
            out.append(s)
        return out

    deadline = time.monotonic() + OUTCOME_TIMEOUT_S
    while (left := missing()) and time.monotonic() < deadline:
        time.sleep(2)
    assert not left, f"{len(left)} of {len(sent)} bad messages have no outcome: {[(s.topic, s.kind) for s in left]}"

    # Exactly one outcome for the data topics (one consumer group each); a control topic is read by every
    # worker that applies it, so each of those may dead-letter it.
    letters = dead_letters(bootstrap, start)
    answered = answers(bootstrap, responses_start, f"{tenant}-")
    for s in sent:
        if s.topic in ("rules.v1", "models.registry.v1"):
            continue
        count = len(letters.get((s.topic, s.partition, s.offset), [])) + len(answered.get(s.request_id or "", []))
        assert count == 1, f"{s.topic} {s.kind} at {s.partition}/{s.offset} has {count} outcomes"
    assert all(copy["status"] == "error" for copies in answered.values() for copy in copies)
    assert all(letter["error_type"] and letter["stage"] for found in letters.values() for letter in found)

    # Still alive, the same processes, and still working.
    assert worker_pids(settings) == pids, "a worker died or was restarted"
    assert runtime.status(settings)["healthy"]
    produce(
        bootstrap,
        [("crm.events.v1", b"after", event("after", tenant, {"customer_id": "C-1", "channel": "chat", "notes": "ok"}))],
    )
    request = {"request_id": f"{tenant}-after", "tenant": tenant, "prompt": "still there?", "max_tokens": 4}
    produce(bootstrap, [("inference.requests.v1", b"after", json.dumps(request).encode())])
    records = f"/records?tenant={tenant}"
    wait_for(lambda: api(sluice_up["api_url"], records, token=sluice_up["api_token"])["total"] == 1, timeout_s=60)
    answer = wait_for(lambda: answers(bootstrap, responses_start, f"{tenant}-after").get(f"{tenant}-after"))
    assert [a["status"] for a in answer] == ["ok"]


def test_a_control_topic_watcher_dead_letters_what_its_handler_rejects(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    """The watcher itself, wired with a dead-letter sink: a registry message it cannot apply gets a dead letter."""
    start = {topic: end_offsets(bootstrap, topic) for topic in DEAD_LETTER_TOPICS}
    key = f"zz-{tenant}".encode()
    produce(bootstrap, [("models.registry.v1", key, b'{"name": 1, "state": "?"}')])
    registry_end = end_offsets(bootstrap, "models.registry.v1")[0]

    def apply(message_key: bytes | None, value: bytes | None, _offset: int) -> None:
        if message_key == key and value is not None:  # the topic's other messages belong to other tests
            RegistryMessage.model_validate_json(value)

    sink = dead_letter_sink(bootstrap, "inference.dlq.v1", dead_letter_builder(settings))
    watcher = CompactedTopicWatcher(bootstrap, "models.registry.v1", apply, on_failure=sink)
    watcher.start()
    try:
        assert watcher.wait_caught_up(30)
        letters = wait_for(lambda: dead_letters(bootstrap, start).get(("models.registry.v1", 0, registry_end - 1)))
    finally:
        watcher.stop()
    # This watcher's letter, and the inference worker's (its registry watcher has the same sink).
    assert letters
    for letter in letters:
        assert letter["dead_letter_topic"] == "inference.dlq.v1" and letter["error_type"] == "ValidationError"
        assert letter["stage"] == "control" and datetime.fromisoformat(letter["failed_at"]) <= datetime.now(UTC)


def test_a_registry_message_naming_a_path_outside_the_registry_is_dead_lettered_by_the_worker(
    sluice_up: dict[str, Any], bootstrap: str, tenant: str, settings: Settings
) -> None:
    """The inference worker's own registry watcher: a model name that is a path is refused, never opened."""
    start = {topic: end_offsets(bootstrap, topic) for topic in DEAD_LETTER_TOPICS}
    # Keyed by a name of its own, so compaction never lets it replace a real model's state.
    message = {"name": "../../tmp", "state": {"versions": ["v1"], "promoted": "/tmp/x", "weights": {"/tmp/x": 1.0}}}
    produce(bootstrap, [("models.registry.v1", f"zz-{tenant}".encode(), json.dumps(message).encode())])
    offset = end_offsets(bootstrap, "models.registry.v1")[0] - 1
    letters = wait_for(lambda: dead_letters(bootstrap, start).get(("models.registry.v1", 0, offset)), timeout_s=60)
    assert any(letter["error_type"] == "RegistryError" and letter["stage"] == "control" for letter in letters)
    assert runtime.status(settings)["healthy"]
