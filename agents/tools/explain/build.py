"""From a request id to its explanation report: the kept context, the version's torch twin, attention, HTML."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from agents.core.settings import Settings
from agents.tools.explain.context import read_request_context
from agents.tools.explain.report import render_report
from models.dialog.aliases import AliasMap
from models.explain import AttentionModel
from schemas.inference import RequestContext

Progress = Callable[[str], None]
REPORT_DIR = "explain"
_MODELS: dict[Path, AttentionModel] = {}
_LOCK = threading.Lock()


def explain_report_html(
    settings: Settings, bootstrap: str, tenant: str, request_id: str, *, progress: Progress | None = None
) -> str:
    """The report of a request, from what Sluice kept of it (inference.context.v1) and the model registry.

    A request with no kept context raises ContextNotKeptError; a version whose torch twin is gone raises
    TorchTwinMissingError (how to restore it is in the message). Both are SluiceErrors.
    """
    say = progress or (lambda _message: None)
    say(f"reading the context of {request_id} ({tenant}) from the inference context topic")
    context = read_request_context(settings, bootstrap, tenant, request_id)
    return explain_context_html(settings.resolved_registry_dir, context, progress=progress)


def explain_context_html(registry_root: Path, context: RequestContext, *, progress: Progress | None = None) -> str:
    """The report of a context already in hand (the review console may hold it; tests build one)."""
    from models.registry import torch_twin_dir

    say = progress or (lambda _message: None)
    name, at, version = context.model.rpartition("@")
    if not at or not name:
        # Policy answers carry model "policy": no model produced them, so there is no attention to read.
        return render_report(context, None, notes=[f"No model attention: the answer came from {context.model!r}."])
    if not context.answer:
        return render_report(context, None, notes=[f"No answer to explain (status {context.status})."])
    twin = torch_twin_dir(registry_root, name, version)
    loading = f"loading the torch twin of {context.model} from {twin} (float32, eager attention; can take a while)"
    model = _attention_model(twin, lambda: say(loading))
    say(f"reading attention over {model.layers} layers × {model.heads} heads ({model.threads} threads)")
    explanation = model.explain(
        task=context.task,
        messages=[{"role": m.role, "content": m.content} for m in context.messages],
        records=context.retrieved,
        # The answer as the model wrote it: the client's copy has its aliases mapped back to pseudonyms.
        answer=AliasMap.from_aliases(context.aliases).to_model(context.answer),
    )
    return render_report(context, explanation)


def _attention_model(twin: Path, loading: Callable[[], None]) -> AttentionModel:
    """The twin's model, loaded once and kept for the next report of the same version (the review console's)."""
    with _LOCK:
        model = _MODELS.get(twin)
        if model is None:
            loading()
            model = AttentionModel(twin)
            # One model at a time: SmolLM2 in float32 holds about 0.5 GB.
            _MODELS.clear()
            _MODELS[twin] = model
        return model


def default_report_path(settings: Settings, tenant: str, request_id: str) -> Path:
    """var/explain/<tenant>-<request_id>.html, with anything but letters, digits, '.', '_' and '-' made '_'."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{tenant}-{request_id}").lstrip(".") or "_"
    return settings.var_dir / REPORT_DIR / f"{name}.html"
