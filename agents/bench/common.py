"""What every bench shares: where results go, and the CPU and memory of the processes it measures (Linux /proc)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.core.settings import Settings


def write_result(settings: Settings, name: str, result: dict[str, Any]) -> Path:
    """var/bench/<name>.json, where every bench leaves its figures."""
    out = settings.var_dir / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return out


# --- CPU -----------------------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far; 0.0 for a process that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (`sluice up` runs each worker under a keep-alive parent)."""
    total = cpu_seconds(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu_seconds(int(child)) for child in children)


def each_process(state: Mapping[str, Any]) -> dict[str, list[int]]:
    """Every process `runtime.up` reported, as "<role>-<pid>", and this one as "bench-client-<pid>"."""
    processes = {f"{p['role']}-{p['pid']}": [int(p["pid"])] for p in state["processes"]}
    processes[f"bench-client-{os.getpid()}"] = [os.getpid()]
    return processes


def cpu_reading(processes: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """CPU seconds used so far per name, each pid with its descendants (a worker slot is a supervisor and its
    worker), except this process, which counts alone: the workers `runtime.up` started are its children too."""
    own = os.getpid()
    return {
        name: sum(cpu_seconds(pid) if pid == own else tree_cpu_seconds(pid) for pid in pids)
        for name, pids in processes.items()
    }


def cpu_used(processes: Mapping[str, Sequence[int]], before: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per name since `before` (a `cpu_reading` of the same processes), to 2 places."""
    return {name: round(now - before[name], 2) for name, now in cpu_reading(processes).items()}


# --- memory --------------------------------------------------------------------------------------------------------
def _status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """The most resident memory the process has held (VmHWM, since start or since `reset_peak_rss`)."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float | None:
    """The resident memory the process holds now (VmRSS)."""
    return _status_mb(pid, "VmRSS")


def reset_peak_rss(pid: int) -> bool:
    """Start VmHWM afresh at the current RSS (Linux: 5 > /proc/PID/clear_refs); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
