"""`sluice explain`: writes the report and prints its path; a request it cannot explain exits non-zero, saying why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.cli import main
from agents.core.settings import Settings
from agents.tools.explain import ContextNotKeptError
from agents.tools.explain import build as explain_build
from schemas.inference import RequestContext


def kept(model: str) -> RequestContext:
    return RequestContext(
        request_id="req-1",
        tenant="acme",
        session_id=None,
        task="chat",
        model=model,
        messages=[],
        answer="Refunds take 7 days.",
        status="ok",
        kept_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture()
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLUICE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SLUICE_REGISTRY_DIR", raising=False)
    # Never dialled: the topic read is replaced below; a named cluster only keeps the CLI from looking for one.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    return tmp_path


def serve(monkeypatch: pytest.MonkeyPatch, found: RequestContext | Exception) -> None:
    """The topic read replaced by what it would have found (the read itself is pinned by test_context_lookup)."""

    def read(settings: Settings, bootstrap: str, tenant: str, request_id: str) -> RequestContext:
        if isinstance(found, Exception):
            raise found
        return found

    monkeypatch.setattr(explain_build, "read_request_context", read)


def test_the_report_is_written_under_var_explain_and_its_path_printed(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(monkeypatch, kept("policy"))
    result = CliRunner().invoke(main, ["explain", "req-1", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    path = var_dir / "explain" / "acme-req-1.html"
    assert result.stdout == f"{path}\n"
    assert "Refunds take 7 days." in path.read_text(encoding="utf-8")
    assert "[explain] reading the context of req-1" in result.stderr


def test_out_chooses_the_file(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, kept("policy"))
    out = var_dir / "reports" / "r.html"
    result = CliRunner().invoke(main, ["explain", "req-1", "--tenant", "acme", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n" and out.is_file()


def test_a_context_that_is_gone_exits_non_zero_naming_the_topic(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, ContextNotKeptError("no context kept for request 'req-1' … on inference.context.v1: …"))
    result = CliRunner().invoke(main, ["explain", "req-1", "--tenant", "acme"])
    assert result.exit_code == 1
    assert "inference.context.v1" in result.stderr
    assert not (var_dir / "explain").exists()


def test_a_version_missing_from_the_registry_exits_non_zero(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, kept("tiny-llama@v9"))
    result = CliRunner().invoke(main, ["explain", "req-1", "--tenant", "acme"])
    assert result.exit_code == 1
    assert "no model tiny-llama@v9" in result.stderr
