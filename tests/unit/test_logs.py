"""Logs are JSON lines with per-event context, and content-like fields never reach them."""

from __future__ import annotations

import io
import json
import logging

import structlog

from agents.core.logs import configure_logging
from agents.core.messages import SourcePosition
from agents.core.runner import batch_span


def test_log_lines_are_json_with_bound_context_and_no_content() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(topic="crm.events.v1", partition=2, offset=41)
        structlog.get_logger("test").info("record_failed", text="张伟 13812345678", payload={"a": 1}, record_id="r1")
        logging.getLogger("aiokafka").warning("library says %s", "hi")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = next(line for line in lines if line["event"] == "record_failed")
    assert (ours["topic"], ours["partition"], ours["offset"], ours["record_id"]) == ("crm.events.v1", 2, 41, "r1")
    assert ours["text"] == "[dropped]" and ours["payload"] == "[dropped]"
    assert "13812345678" not in stream.getvalue()
    assert any(line["event"] == "library says hi" for line in lines), "stdlib loggers share the JSON renderer"


def test_batch_span_names_every_partition_and_offset_range() -> None:
    positions = [SourcePosition("erp.events.v1", 0, o, None, b"") for o in (7, 3, 9)]
    positions.append(SourcePosition("crm.events.v1", 1, 5, None, b""))
    assert batch_span(positions) == {
        "batch": 4,
        "offsets": {"erp.events.v1": {"0": [3, 9]}, "crm.events.v1": {"1": [5, 5]}},
    }


def test_exceptions_are_logged_by_type_and_place_never_by_message() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        raise ValueError("could not parse '张伟 13812345678'")
    except ValueError:
        structlog.get_logger("test").exception("stage_failed", stage="deidentify")
        logging.getLogger("faust").exception("library failure")
    out = stream.getvalue()
    assert "13812345678" not in out and "张伟" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    for line in lines:
        assert line["exception"]["type"] == "ValueError"
        assert any("test_logs.py" in where for where in line["exception"]["where"])


def test_a_library_log_line_that_quotes_its_exception_loses_the_quote() -> None:
    # Faust logs a crashed agent as `log.exception("Agent error: %r", exc)`: the message repeats the exception.
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    for exc in (ValueError("could not parse '张伟 13812345678'"), KeyError("13812345678"), OSError("x\n13812345678")):
        try:
            raise exc
        except Exception as caught:
            logging.getLogger("faust").exception("Agent error: %r (%s)", caught, caught)
    out = stream.getvalue()
    assert "13812345678" not in out and "张伟" not in out
    lines = [json.loads(line) for line in out.splitlines()]
    dropped = "[exception message dropped]"
    assert [line["event"] for line in lines] == [f"Agent error: {dropped} ({dropped})"] * 3
