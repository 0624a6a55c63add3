"""`sluice up / down / status`: the local broker, the topics and the worker processes, started in the background."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.broker import LocalBroker, free_port, pid_alive, resolve_bootstrap_servers
from agents.errors import ConfigurationError, SluiceError
from agents.settings import Settings

WORKER_READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ProcessInfo:
    role: str
    pid: int


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
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def apply_declared_topics(settings: Settings, bootstrap: str) -> list[Any]:
    from topics.admin import admin_client, apply_topics

    admin = admin_client(bootstrap, settings.kafka_options)
    return apply_topics(admin, default_partitions=settings.topic_partitions, replication=settings.topic_replication)


def ensure_models(settings: Settings) -> None:
    if not (settings.resolved_embedder_dir / "manifest.json").exists():
        raise ConfigurationError(
            f"no embedding model at {settings.resolved_embedder_dir}: run `sluice models prepare` (make does it)"
        )


def up(settings: Settings, *, wait: bool = True, log: Any = print) -> dict[str, Any]:
    """Start what is missing: broker (unless configured), topics, the worker; return the status when healthy."""
    ensure_models(settings)
    if not settings.kafka_bootstrap_servers:
        broker = LocalBroker(settings).up()
        log(f"broker    running  {broker.bootstrap_servers} (pid {broker.pid})")
    bootstrap = resolve_bootstrap_servers(settings)
    apply_declared_topics(settings, bootstrap)
    log("topics    applied")
    state = _read_state(settings)
    worker = state.get("worker") or {}
    if worker.get("pid") and pid_alive(int(worker["pid"])):
        log(f"worker    running  pid {worker['pid']}")
    else:
        port = settings.api_port or int(worker.get("api_port") or 0) or free_port()
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.run_dir / "worker.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "worker", "--web-port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "SLUICE_VAR_DIR": str(settings.var_dir)},
            )
        worker = {"pid": process.pid, "api_port": port, "log": str(log_path)}
        state["worker"] = worker
        _write_state(settings, state)
        log(f"worker    started  pid {process.pid}, log {log_path}")
    if wait:
        wait_healthy(settings, WORKER_READY_TIMEOUT_S)
    return status(settings)


def wait_healthy(settings: Settings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    state = _read_state(settings)
    worker = state.get("worker") or {}
    api_url = f"http://127.0.0.1:{worker.get('api_port')}"
    while time.monotonic() < deadline:
        if not pid_alive(int(worker.get("pid", 0))):
            tail = (
                Path(worker.get("log", "")).read_text(errors="replace").splitlines()[-20:] if worker.get("log") else []
            )
            raise SluiceError("the worker exited during start-up; last log lines:\n" + "\n".join(tail))
        reply = health(api_url)
        if reply and reply.get("healthy"):
            return
        time.sleep(1.0)
    raise SluiceError(f"the worker did not become healthy within {timeout_s:.0f}s; see {worker.get('log')}")


def down(settings: Settings, *, log: Any = print, timeout_s: float = 30.0) -> None:
    state = _read_state(settings)
    worker = state.get("worker") or {}
    pid = int(worker.get("pid") or 0)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        log(f"worker    stopped  pid {pid}")
    state.pop("worker", None)
    _write_state(settings, {**state, "worker": {"api_port": worker.get("api_port")}} if worker else state)
    if not settings.kafka_bootstrap_servers and LocalBroker(settings).down():
        log("broker    stopped")


def status(settings: Settings) -> dict[str, Any]:
    processes: list[ProcessInfo] = []
    bootstrap: str | None = settings.kafka_bootstrap_servers
    if not bootstrap:
        broker = LocalBroker(settings).state()
        if broker is not None:
            bootstrap = broker.bootstrap_servers
            processes.append(ProcessInfo("broker", broker.pid))
    worker = _read_state(settings).get("worker") or {}
    api_url = f"http://127.0.0.1:{worker['api_port']}" if worker.get("api_port") else None
    worker_alive = bool(worker.get("pid")) and pid_alive(int(worker["pid"]))
    if worker_alive:
        processes.append(ProcessInfo("worker", int(worker["pid"])))
    reply = health(api_url) if api_url and worker_alive else None
    return {
        "bootstrap_servers": bootstrap,
        "api_url": api_url,
        "processes": [asdict(p) for p in processes],
        "healthy": bool(bootstrap and reply and reply.get("healthy")),
    }
