"""JSON Lines de-identification: order, batching, passthrough fields and errors that never echo input."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from models.deid.cli_core import BATCH_SIZE, deidentify_jsonl
from models.deid.engine import DeidResult, Entity, PresidioDeidentifier

from .conftest import KEY


class RecordingEngine:
    """Upper-cases text and reports one entity per text; records batch sizes."""

    version = "fake-1"

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[int] = []
        self.fail_on = fail_on

    def deidentify_batch(self, texts: Sequence[str]) -> list[DeidResult]:
        self.batches.append(len(texts))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("boom")
        return [DeidResult(text.upper(), (Entity("PERSON", 0, 1, 0.5),), ()) for text in texts]


def _lines(*objects: object) -> list[str]:
    return [json.dumps(obj, ensure_ascii=False) for obj in objects]


def test_text_is_replaced_entities_added_and_other_fields_kept() -> None:
    out = list(deidentify_jsonl(_lines({"id": 7, "text": "abc", "source": "crm"}), RecordingEngine()))
    assert [json.loads(line) for line in out] == [
        {
            "id": 7,
            "text": "ABC",
            "source": "crm",
            "entities": [{"type": "PERSON", "start": 0, "end": 1, "score": 0.5}],
        }
    ]


def test_records_are_processed_in_batches_of_64_in_input_order() -> None:
    engine = RecordingEngine()
    out = list(deidentify_jsonl(_lines(*({"text": f"t{i}"} for i in range(150))), engine))
    assert engine.batches == [BATCH_SIZE, BATCH_SIZE, 150 - 2 * BATCH_SIZE]
    assert [json.loads(line)["text"] for line in out] == [f"T{i}" for i in range(150)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "张伟 13812345678"', "invalid JSON"),
        ('["张伟 13812345678"]', "expected a JSON object"),
        ('{"body": "张伟 13812345678"}', "missing field 'text'"),
        ('{"text": 13812345678}', "field 'text' must be a string"),
    ],
)
def test_bad_line_yields_an_error_with_its_number_and_no_content(line: str, reason: str) -> None:
    lines = [*_lines({"text": "ok"}), line, *_lines({"text": "also ok"})]
    out = [json.loads(item) for item in deidentify_jsonl(lines, RecordingEngine())]
    assert out[0]["text"] == "OK" and out[2]["text"] == "ALSO OK"
    assert out[1]["line"] == 2 and out[1]["error"].startswith(reason)
    assert set(out[1]) == {"error", "line"}
    assert "13812345678" not in json.dumps(out[1]) and "张伟" not in json.dumps(out[1], ensure_ascii=False)


def test_blank_lines_are_skipped_but_still_counted() -> None:
    out = [json.loads(item) for item in deidentify_jsonl(["", '{"text": "a"}', "  ", "{bad"], RecordingEngine())]
    assert out[0]["text"] == "A"
    assert out[1]["line"] == 4


def test_engine_failure_costs_only_the_failing_line() -> None:
    engine = RecordingEngine(fail_on="poison 13812345678")
    lines = _lines({"text": "a"}, {"text": "poison 13812345678"}, {"text": "b"})
    out = [json.loads(item) for item in deidentify_jsonl(lines, engine)]
    assert out[0]["text"] == "A" and out[2]["text"] == "B"
    assert out[1] == {"error": "de-identification failed: RuntimeError", "line": 2}


def test_empty_input_yields_nothing() -> None:
    assert list(deidentify_jsonl([], RecordingEngine())) == []


def test_real_engine_output_holds_no_raw_values() -> None:
    engine = PresidioDeidentifier(pseudonym_key=KEY, operators={"CN_MOBILE": "replace"}, ner_enabled=False)
    out = json.loads(next(deidentify_jsonl(_lines({"text": "电话13812345678，邮箱a.b@example.com"}), engine)))
    assert out["text"] == "电话<CN_MOBILE>，邮箱" + out["text"].split("邮箱")[1]
    assert "13812345678" not in out["text"] and "a.b@example.com" not in out["text"]
    assert [entity["type"] for entity in out["entities"]] == ["CN_MOBILE", "EMAIL_ADDRESS"]
