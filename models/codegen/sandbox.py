"""Run model-written code against its tests in a confined child process, and report what passed and what it tried.

Containment is the operating system's: the child (models/codegen/runner.py, a fresh `python -I -S` with an empty
environment) unshares its network namespace so that nothing is reachable, sets rlimits (CPU, address space, file
size, open files, no core, no processes), drops root to nobody, and runs in its own session, which is killed whole
on the wall-clock limit. Its working directory is a fresh temp dir inside a root-owned one, so that `../x` is not
writable either; the worker's environment (which holds keys) never reaches it.

The runner's audit hook refuses and reports process creation, sockets, native code loading and writes outside the
temp dir. It reports; it does not contain. Code running in the same interpreter as the runner can forge the report
(write to the pipe, patch the runner), so the threat model is a model writing buggy or careless code (a stray
`os.system`, an endless loop, a write to the wrong path), not an adversary; what an adversary could still do is
bounded by the uid, the rlimits and the namespace. Honest gaps of the OS containment (the hook refuses each, but
does not contain): as nobody the code can still write where anyone may (/tmp); runs at the same time share the
nobody uid, so one could read another's work dir; and when the worker is not root the code runs as the worker's own
uid in a user namespace and could read what that uid can (its /proc/<pid>/environ included). A mount namespace
with a private /tmp and a uid per run would close them.

Fail closed: when the network cannot be isolated or root cannot be dropped, no test runs, and the result says so
(`network_isolated` False or `unavailable` set); validation then does not pass.

The child confines itself instead of using a `preexec_fn`: the worker runs validation from threads, and CPython's
preexec_fn is unsafe in a threaded process (the forked child can deadlock on a lock another thread held).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.codegen.limits import RunLimits

NOBODY = 65534
RUNNER = Path(__file__).with_name("runner.py")
PYTEST_SHIM = Path(__file__).with_name("pytest_shim.py")
ERROR_CHARS = 600
MAX_ERRORS = 20
MAX_REPORT_BYTES = 512 * 1024
STDERR_TAIL = 1500
# Above RLIMIT_CPU the kernel sends SIGXCPU (and SIGKILL at the hard limit, a second later).
SIGNAL_VIOLATIONS = {-signal.SIGXCPU: "cpu_time", -signal.SIGXFSZ: "file_size"}


@dataclass(frozen=True)
class SandboxResult:
    """What one run found: tests passed and failed (those not run count as failed), why each failed (truncated),
    the first violation the sandbox stopped (cpu_time, wall_time, memory, file_size, fork, network, write,
    native_code, signal), whether the network was isolated, why nothing ran when the sandbox could not confine
    it, and whether the runner finished (a run that ended early proves nothing, even when no test failed)."""

    passed: int
    failed: int
    errors: tuple[str, ...] = ()
    violation: str | None = None
    network_isolated: bool = True
    unavailable: str | None = None
    tests: tuple[str, ...] = field(default_factory=tuple)
    complete: bool = False


def run_tests(code: str, tests: str, limits: RunLimits, *, python: str | None = None) -> SandboxResult:
    """Write code as solution.py and tests as test_solution.py in a fresh temp dir and run the tests there, confined.

    Blocking (up to limits.wall_seconds plus start-up); call it from a thread in async code.
    """
    with tempfile.TemporaryDirectory(prefix="sluice-sandbox-", ignore_cleanup_errors=True) as base_name:
        base = Path(base_name)
        work = _lay_out(base, code, tests)
        read_fd, write_fd = os.pipe()
        stderr_path = base / "stderr"
        try:
            with stderr_path.open("wb") as stderr:
                process = subprocess.Popen(
                    [
                        python or sys.executable,
                        "-I",
                        "-S",
                        str(base / "lib" / "runner.py"),
                        str(work),
                        str(write_fd),
                        json.dumps(_child_limits(limits)),
                    ],
                    env={},  # nothing of the worker's environment: it holds keys
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    pass_fds=(write_fd,),
                    cwd=work,
                    start_new_session=True,  # its own process group, killed whole on the wall-clock limit
                )
            os.close(write_fd)
            write_fd = -1
            events, timed_out = _read_events(read_fd, process, time.monotonic() + limits.wall_seconds)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        stderr_tail = stderr_path.read_bytes()[-STDERR_TAIL:].decode("utf-8", "replace")
        return summarise(events, returncode=process.returncode, timed_out=timed_out, stderr_tail=stderr_tail)


def _lay_out(base: Path, code: str, tests: str) -> Path:
    """base (root's, 0711: passable, not writable) / lib (runner and pytest shim, readable) / work (the code's)."""
    base.chmod(0o711)
    lib = base / "lib"
    lib.mkdir(mode=0o755)
    shutil.copyfile(RUNNER, lib / "runner.py")
    shutil.copyfile(PYTEST_SHIM, lib / "pytest.py")
    for copied in lib.iterdir():
        copied.chmod(0o644)
    work = base / "work"
    work.mkdir(mode=0o700)
    (work / "solution.py").write_text(code, encoding="utf-8")
    (work / "test_solution.py").write_text(tests, encoding="utf-8")
    for written in work.iterdir():
        written.chmod(0o644)  # readable by nobody, and root's: the code cannot rewrite its tests
    if os.geteuid() == 0:
        os.chown(work, NOBODY, NOBODY)  # the code may write files of its own here, and only here
    return work


def _child_limits(limits: RunLimits) -> dict[str, int]:
    return {
        "cpu_seconds": limits.cpu_seconds,
        "memory_bytes": limits.memory_mb * 1024 * 1024,
        "file_size_bytes": limits.file_size_kb * 1024,
        "open_files": limits.open_files,
    }


def _read_events(read_fd: int, process: subprocess.Popen[bytes], deadline: float) -> tuple[list[dict[str, Any]], bool]:
    """The runner's JSON lines until it closes the pipe, or the deadline (then its whole session is killed)."""
    buffer = b""
    timed_out = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        if len(buffer) < MAX_REPORT_BYTES:  # beyond: read and dropped, so that the child never blocks on the pipe
            buffer += chunk
    if not timed_out:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if timed_out:
        _kill_session(process)
        process.wait()
    return _parse_lines(buffer), timed_out


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # pgid == pid: start_new_session made it the session leader


def _parse_lines(buffer: bytes) -> list[dict[str, Any]]:
    events = []
    for line in buffer.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn last line (killed mid-write): what came before still counts
        if isinstance(event, dict):
            events.append(event)
    return events


def summarise(
    events: list[dict[str, Any]], *, returncode: int | None, timed_out: bool, stderr_tail: str
) -> SandboxResult:
    """A SandboxResult from the runner's events and how the child ended (pure; the unit tests feed it events)."""
    confined = next((e for e in events if e.get("event") == "confined"), None)
    if confined is None:
        why = "the sandbox's runner did not start" + (f": {_last_line(stderr_tail)}" if stderr_tail.strip() else "")
        return SandboxResult(0, 0, (why,), violation="wall_time" if timed_out else None, unavailable=why)
    network_isolated = bool(confined.get("network_isolated"))
    if confined.get("problem"):
        why = f"the sandbox could not confine the code ({confined['problem']}); no test was run"
        return SandboxResult(0, 0, (why,), network_isolated=network_isolated, unavailable=why)

    errors: list[str] = []
    violation: str | None = None
    collected: list[str] = []
    finished: dict[str, bool] = {}
    running: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "collect_error":
            errors.append(_clip(str(event.get("error"))))
            violation = violation or event.get("violation")
        elif kind == "collected":
            collected = [str(name) for name in event.get("tests", [])]
            if event.get("more"):
                errors.append(f"{event['more']} more tests than the sandbox runs ({len(collected)}): counted as failed")
        elif kind == "start":
            running = str(event.get("test"))
        elif kind == "end":
            name = str(event.get("test"))
            finished[name] = bool(event.get("ok"))
            running = None
            if not event.get("ok"):
                errors.append(_clip(f"{name}: {event.get('error')}"))
                violation = violation or event.get("violation")
    done = any(e.get("event") == "done" for e in events)
    stopped = _stopped_by(returncode, timed_out)
    if stopped is not None:
        violation = violation or stopped
        errors.append(f"{running or 'the run'}: stopped by the sandbox ({stopped})")
    elif not done:
        detail = _last_line(stderr_tail) or f"exit status {returncode}"
        errors.append(_clip(f"{running or 'the run'}: the test process ended early ({detail})"))
    passed = sum(1 for ok in finished.values() if ok)
    more = next((int(e.get("more") or 0) for e in events if e.get("event") == "collected"), 0)
    if not collected and not errors:
        errors.append("no test_ functions found in the tests")
    return SandboxResult(
        passed=passed,
        failed=len(collected) + more - passed,
        errors=tuple(errors[:MAX_ERRORS]),
        violation=violation,
        network_isolated=network_isolated,
        tests=tuple(collected),
        complete=done and stopped is None,
    )


def _stopped_by(returncode: int | None, timed_out: bool) -> str | None:
    if timed_out:
        return "wall_time"
    if returncode is None:
        return None
    if returncode == -signal.SIGKILL:
        # Only the kernel sends it here (the wall-clock kill is timed_out): RLIMIT_CPU's hard limit.
        return "cpu_time"
    return SIGNAL_VIOLATIONS.get(returncode)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return _clip(lines[-1]) if lines else ""


def _clip(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."
