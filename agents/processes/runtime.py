"""`sluice up / down / status`: the local broker, the topics and the worker processes, run in the background."""

from __future__ import annotations

import fcntl
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
from agents.core.keys import create_generated_keys
from agents.core.readiness import clear_ready, read_ready
from agents.core.settings import REPO_ROOT, Settings
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


def _spawn(
    settings: Settings, slot: str, api_port: int | None, retrieval_url: str | None, service_token: str
) -> dict[str, Any]:
    role = slot.split("-", 1)[0]
    # The index worker accepts the service credential, the inference worker presents it (retrieval for any tenant).
    service = {"SLUICE_API_SERVICE_TOKEN": service_token} if role in ("index", "inference", "all") else {}
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    clear_ready(settings.run_dir, slot)  # a mark left by an earlier run says nothing about this one
    log_path = settings.run_dir / f"{slot}.log"
    # The keep-alive supervisor restarts the worker when it dies and kills it when its heartbeat stops; both read
    # the slot from SLUICE_WORKER_SLOT, which also names the slot's heartbeat and stall files.
    worker = [sys.executable, "-m", "agents.cli", "worker", "--role", role]
    if api_port:
        worker += ["--web-port", str(api_port)]
    command = [sys.executable, "-m", "agents.processes.supervise", "--", *worker]
    env = {
        **os.environ,
        "SLUICE_VAR_DIR": str(settings.var_dir),
        "SLUICE_WORKER_SLOT": slot,
        **({"SLUICE_RETRIEVAL_URL": retrieval_url} if retrieval_url and role == "inference" else {}),
        **service,
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
    """Start what is missing: broker (unless configured), topics, workers; return the status when ready.

    One `sluice up` at a time per checkout: a second one (another terminal, a script) waits for the first and
    then finds its workers running, instead of starting every role a second time."""
    # Keys first and here only (atomic, so no lock needed): workers and tools read them, none can race to create
    # one, and a refusal (generated keys with an external cluster) comes before anything is created.
    create_generated_keys(settings)
    with _up_lock(settings, log):
        return _up(settings, wait=wait, log=log)


@contextmanager
def _up_lock(settings: Settings, log: Any) -> Iterator[None]:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.run_dir / "up.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for another `sluice up` of this checkout to finish ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _up(settings: Settings, *, wait: bool, log: Any) -> dict[str, Any]:
    ensure_models(settings)
    if not settings.kafka_bootstrap_servers:
        broker = LocalBroker(settings).up()
        log(f"broker      running  {broker.bootstrap_servers} (pid {broker.pid})")
    bootstrap = resolve_bootstrap_servers(settings)
    apply_declared_topics(settings, bootstrap)
    log("topics      applied")
    service_token = settings.api_service_secret()  # generated once here when not configured
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
        workers[slot] = _spawn(settings, slot, api_port, _api_url(settings, workers), service_token)
        log(f"{slot:<11} started  pid {workers[slot]['pid']}, log {workers[slot]['log']}")
    # Slots beyond the plan (fewer deidentify workers configured) are stopped.
    for slot in [s for s in workers if s not in planned_workers(settings)]:
        _stop(int(workers.pop(slot).get("pid") or 0))
    state["workers"] = workers
    _write_state(settings, state)
    if wait:
        wait_healthy(settings, WORKER_READY_TIMEOUT_S)
    return status(settings)


def _api_url(settings: Settings, workers: dict[str, Any]) -> str | None:
    port = (workers.get("index-0") or {}).get("api_port")
    return reachable_url(settings.api_bind, int(port)) if port else None


def reachable_url(bind: str, port: int) -> str:
    """Where this machine reaches an API bound to `bind`: loopback for a wildcard bind, else the address itself."""
    if bind in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif bind == "::":
        host = "[::1]"  # asyncio binds "::" IPv6-only, so 127.0.0.1 would not answer
    elif ":" in bind:
        host = f"[{bind}]"
    else:
        host = bind
    return f"http://{host}:{port}"


def _worker_tail(worker: dict[str, Any], lines: int = 20) -> str:
    try:
        return "\n".join(Path(worker["log"]).read_text(errors="replace").splitlines()[-lines:])
    except (OSError, KeyError):
        return "(no log)"


def wait_healthy(settings: Settings, timeout_s: float) -> None:
    """Until the index worker's API answers healthy and every worker has written its ready mark (models loaded,
    control topics read, tables recovered); a worker that exits meanwhile fails the wait with its log tail."""
    deadline = time.monotonic() + timeout_s
    workers: dict[str, Any] = _read_state(settings).get("workers", {})
    api_url = _api_url(settings, workers)
    while time.monotonic() < deadline:
        for slot, worker in workers.items():
            if not pid_alive(int(worker.get("pid") or 0)):
                raise SluiceError(f"worker {slot} exited during start-up; last log lines:\n{_worker_tail(worker)}")
        reply = health(api_url) if api_url else None
        waiting = [slot for slot in workers if read_ready(settings.run_dir, slot) is None]
        if reply and reply.get("healthy") and not waiting:
            return
        time.sleep(1.0)
    not_ready = ", ".join(slot for slot in workers if read_ready(settings.run_dir, slot) is None) or "none"
    raise SluiceError(
        f"the workers did not become ready within {timeout_s:.0f}s (not ready: {not_ready}); "
        f"see {settings.run_dir}/*.log"
    )


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


def down(settings: Settings, *, log: Any = print, keep_broker: bool = False) -> None:
    state = _read_state(settings)
    workers: dict[str, Any] = state.get("workers", {})
    for slot, worker in workers.items():
        if _stop(int(worker.get("pid") or 0)):
            log(f"{slot:<11} stopped  pid {worker['pid']}")
        worker["pid"] = None  # keep the API port for the next `sluice up`
    _write_state(settings, state)
    # Workers no state file names (a crashed or concurrent `sluice up`, a worker started by hand) still hold
    # the index and its port: stop every worker process of this checkout, supervisors first.
    for pid in stray_workers(settings):
        if _stop(pid):
            log(f"{'(unrecorded)':<11} stopped  pid {pid}")
    if not keep_broker and not settings.kafka_bootstrap_servers and LocalBroker(settings).down():
        log("broker      stopped")


def stray_workers(settings: Settings) -> list[int]:
    """Every `sluice worker` process of this checkout's var dir, keep-alive supervisors first (so that none
    restarts its worker while it is being stopped)."""
    var_dir = str(settings.var_dir.resolve())
    found: list[tuple[bool, int]] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = dict(
                entry.split(b"=", 1) for entry in (proc / "environ").read_bytes().split(b"\0") if b"=" in entry
            )
        except OSError:  # gone, or not ours to read
            continue
        if b"agents.cli" not in argv or b"worker" not in argv:
            continue
        their_var = environ.get(b"SLUICE_VAR_DIR", str(REPO_ROOT / "var").encode()).decode(errors="replace")
        if str(Path(their_var).resolve()) == var_dir:
            supervisor = b"agents.processes.supervise" in argv or b"--keep-alive" in argv
            found.append((not supervisor, int(proc.name)))
    return [pid for _, pid in sorted(found)]


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
    # The local broker stays up (down keeps it, up finds it running). Passing `bootstrap` on as if it were
    # configured would make the local broker look like an external cluster, where generated keys are refused.
    if bootstrap != resolve_bootstrap_servers(settings):
        raise ValueError(f"restart_workers was given {bootstrap}, but these settings use another cluster")
    with _guarantee_for_spawned_workers(guarantee):
        down(settings, log=log, keep_broker=True)
        return up(settings, log=log)


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
            ready = read_ready(settings.run_dir, slot) is not None
            processes.append({"role": worker["role"], "pid": int(worker["pid"]), "slot": slot, "ready": ready})
            all_alive = all_alive and ready
        else:
            all_alive = False
            if worker:  # planned, started once, not running now: say why, from the end of its log
                processes.append(
                    {
                        "role": worker.get("role"),
                        "pid": None,
                        "slot": slot,
                        "ready": False,
                        "why": _worker_tail(worker, lines=1) or "not running (no log line)",
                    }
                )
    api_url = _api_url(settings, workers)
    reply = health(api_url) if api_url and all_alive else None
    return {
        "bootstrap_servers": bootstrap,
        "secure": settings.secure,
        "api_url": api_url,
        "processes": processes,
        "healthy": bool(bootstrap and reply and reply.get("healthy")),
    }
