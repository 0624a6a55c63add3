"""`sluice up / down / status`: the local broker, the topics and the worker processes, run in the background."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from agents.api.client import IndexApi
from agents.core.settings import Settings
from agents.processes.access import worker_principal
from agents.processes.broker import LocalBroker, free_port, pid_alive, resolve_bootstrap_servers
from schemas.errors import ConfigurationError, SluiceError

WORKER_READY_TIMEOUT_S = 180.0
GUARANTEE_VARIABLE = "SLUICE_PROCESSING_GUARANTEE"


def serves_inference(settings: Settings) -> bool:
    """An inference worker runs once the registry has a promoted version of the generator model."""
    from models.registry import Registry, RegistryError

    try:
        return Registry(settings.resolved_registry_dir).state().entry(settings.generator_model).promoted is not None
    except (RegistryError, OSError, ValueError):
        return False


def planned_workers(settings: Settings) -> list[str]:
    """Worker slots `sluice up` keeps running: one index worker (owns the store, serves the API), one audit
    chainer, N de-identification workers and, when a model is promoted, one inference worker. Each slot is named
    role-N so a restart refills exactly what died."""
    slots = ["index-0", "audit-0", *(f"deidentify-{i}" for i in range(settings.deidentify_workers))]
    return [*slots, "inference-0"] if serves_inference(settings) else slots


def _state_path(settings: Settings) -> Path:
    return settings.run_dir / "processes.json"


def _read_state(settings: Settings) -> dict[str, Any]:
    try:
        return dict(json.loads(_state_path(settings).read_text()))
    except (OSError, ValueError):
        return {}


def _write_state(settings: Settings, state: dict[str, Any]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = _state_path(settings).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.rename(_state_path(settings))


def health(api_url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    return IndexApi(api_url, timeout_s=timeout_s).health()


def apply_declared_topics(settings: Settings, bootstrap: str) -> list[Any]:
    from agents.inference.flow import INFERENCE_TABLES
    from topics.admin import admin_client, apply_topics
    from topics.specs import ALL_TOPICS, table_changelog

    admin = admin_client(bootstrap, settings.kafka_client_config())
    # Faust would create its table changelogs itself; Sluice declares them like every other topic.
    changelogs = [table_changelog(f"{settings.app_id}-inference", table) for table in INFERENCE_TABLES]
    return apply_topics(
        admin,
        default_partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        specs=[*ALL_TOPICS, *changelogs],
    )


def ensure_models(settings: Settings) -> None:
    if not (settings.resolved_embedder_dir / "manifest.json").exists():
        raise ConfigurationError(
            f"no embedding model at {settings.resolved_embedder_dir}: run `sluice models prepare` (make does it)"
        )


def _spawn(settings: Settings, slot: str, api_port: int | None, retrieval_url: str | None) -> dict[str, Any]:
    role = slot.split("-", 1)[0]
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.run_dir / f"{slot}.log"
    command = [sys.executable, "-m", "agents.cli", "worker", "--role", role, "--keep-alive"]
    if api_port:
        command += ["--web-port", str(api_port)]
    env = {
        **os.environ,
        "SLUICE_VAR_DIR": str(settings.var_dir),
        **({"SLUICE_RETRIEVAL_URL": retrieval_url} if retrieval_url and role == "inference" else {}),
    }
    if settings.secure:
        # Each role connects as its own principal, with the password generated for it (read from var/secrets/kafka/
        # by the worker, so it is in no environment); never as whoever ran `sluice up`.
        env.pop("SLUICE_KAFKA_PASSWORD", None)
        env.update({"SLUICE_SECURE": "true", "SLUICE_KAFKA_USERNAME": worker_principal(role)})
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `sluice up`; `sluice down` stops it
            env=env,
        )
    return {"role": role, "pid": process.pid, "api_port": api_port, "log": str(log_path)}


def up(settings: Settings, *, wait: bool = True, log: Any = print) -> dict[str, Any]:
    """Start what is missing: broker (unless configured), topics, workers; return the status when healthy."""
    ensure_models(settings)
    if not settings.kafka_bootstrap_servers:
        broker = LocalBroker(settings).up()
        log(f"broker      running  {broker.bootstrap_servers} (pid {broker.pid})")
    bootstrap = resolve_bootstrap_servers(settings)
    apply_declared_topics(settings, bootstrap)
    log("topics      applied")
    if settings.secure:
        from agents.processes.access import provision
        from topics.admin import admin_client

        made = provision(settings, admin_client(bootstrap, settings.kafka_client_config()))
        made_now = ", ".join(made) or "none"
        log(f"access      applied  (credentials set now: {made_now}; passwords in {settings.kafka_credentials_dir})")
    state = _read_state(settings)
    workers: dict[str, Any] = state.get("workers", {})
    for slot in planned_workers(settings):
        known = workers.get(slot) or {}
        if known.get("pid") and pid_alive(int(known["pid"])):
            log(f"{slot:<11} running  pid {known['pid']}")
            continue
        api_port = None
        if slot.startswith("index"):
            # Keep the API where it was so that clients' configured URLs survive a restart.
            api_port = settings.api_port or int(known.get("api_port") or 0) or free_port()
        workers[slot] = _spawn(settings, slot, api_port, _api_url(workers))
        log(f"{slot:<11} started  pid {workers[slot]['pid']}, log {workers[slot]['log']}")
    # Slots beyond the plan (fewer deidentify workers configured) are stopped.
    for slot in [s for s in workers if s not in planned_workers(settings)]:
        _stop(int(workers.pop(slot).get("pid") or 0))
    state["workers"] = workers
    _write_state(settings, state)
    if wait:
        wait_healthy(settings, WORKER_READY_TIMEOUT_S)
    return status(settings)


def _api_url(workers: dict[str, Any]) -> str | None:
    port = (workers.get("index-0") or {}).get("api_port")
    return f"http://127.0.0.1:{port}" if port else None


def _worker_tail(worker: dict[str, Any], lines: int = 20) -> str:
    try:
        return "\n".join(Path(worker["log"]).read_text(errors="replace").splitlines()[-lines:])
    except (OSError, KeyError):
        return "(no log)"


def wait_healthy(settings: Settings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    workers: dict[str, Any] = _read_state(settings).get("workers", {})
    api_url = _api_url(workers)
    while time.monotonic() < deadline:
        for slot, worker in workers.items():
            if not pid_alive(int(worker.get("pid") or 0)):
                raise SluiceError(f"worker {slot} exited during start-up; last log lines:\n{_worker_tail(worker)}")
        reply = health(api_url) if api_url else None
        if reply and reply.get("healthy"):
            # De-identification workers have no API; give them the same start-up grace (models load in
            # parallel) by requiring they stayed alive while the index worker came up.
            return
        time.sleep(1.0)
    raise SluiceError(f"the workers did not become healthy within {timeout_s:.0f}s; see {settings.run_dir}/*.log")


def _stop(pid: int, timeout_s: float = 30.0) -> bool:
    if not pid or not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def down(settings: Settings, *, log: Any = print) -> None:
    state = _read_state(settings)
    workers: dict[str, Any] = state.get("workers", {})
    for slot, worker in workers.items():
        if _stop(int(worker.get("pid") or 0)):
            log(f"{slot:<11} stopped  pid {worker['pid']}")
        worker["pid"] = None  # keep the API port for the next `sluice up`
    _write_state(settings, state)
    if not settings.kafka_bootstrap_servers and LocalBroker(settings).down():
        log("broker      stopped")


@contextmanager
def _guarantee_for_spawned_workers(guarantee: str) -> Iterator[None]:
    """_spawn starts workers with this process's environment: set the guarantee there, only while it does."""
    before = os.environ.get(GUARANTEE_VARIABLE)
    os.environ[GUARANTEE_VARIABLE] = guarantee
    try:
        yield
    finally:
        if before is None:
            del os.environ[GUARANTEE_VARIABLE]
        else:
            os.environ[GUARANTEE_VARIABLE] = before


def restart_workers(
    settings: Settings,
    bootstrap: str,
    guarantee: Literal["at_least_once", "exactly_once"],
    *,
    log: Any = print,
) -> dict[str, Any]:
    """Stop the workers and start them again under `guarantee`, waiting until healthy; the broker keeps running."""
    # With the cluster named, down() stops the workers only and up() starts no broker.
    workers_only = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    with _guarantee_for_spawned_workers(guarantee):
        down(workers_only, log=log)
        return up(workers_only, log=log)


def status(settings: Settings) -> dict[str, Any]:
    processes: list[dict[str, Any]] = []
    bootstrap: str | None = settings.kafka_bootstrap_servers
    if not bootstrap:
        broker = LocalBroker(settings).state()
        if broker is not None:
            bootstrap = broker.bootstrap_servers
            processes.append({"role": "broker", "pid": broker.pid})
    workers: dict[str, Any] = _read_state(settings).get("workers", {})
    all_alive = bool(workers)
    for slot in planned_workers(settings):
        worker = workers.get(slot) or {}
        if worker.get("pid") and pid_alive(int(worker["pid"])):
            processes.append({"role": worker["role"], "pid": int(worker["pid"])})
        else:
            all_alive = False
    api_url = _api_url(workers)
    reply = health(api_url) if api_url and all_alive else None
    return {
        "bootstrap_servers": bootstrap,
        "secure": settings.secure,
        "api_url": api_url,
        "processes": processes,
        "healthy": bool(bootstrap and reply and reply.get("healthy")),
    }
