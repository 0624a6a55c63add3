"""What a sandboxed test run may use: CPU, wall time, memory, file size and open files (no processes, no network)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.inference import SandboxLimits


@dataclass(frozen=True)
class RunLimits:
    """The limits one sandboxed test run gets; `reported` turns them into the schema's SandboxLimits.

    Processes are always 0 (fork, exec and also new threads fail: RLIMIT_NPROC counts threads) and the network is
    always isolated; neither is a knob, because code under validation needs neither.
    """

    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_mb: int = 256
    file_size_kb: int = 1024
    open_files: int = 64

    def __post_init__(self) -> None:
        # A bad limit is a configuration error: say which one at start, not when the first request arrives.
        for name in ("cpu_seconds", "wall_seconds", "memory_mb", "file_size_kb", "open_files"):
            if not getattr(self, name) > 0:
                raise ValueError(f"sandbox limit {name} must be > 0, got {getattr(self, name)!r}")
        if self.memory_mb < 64:
            raise ValueError(f"sandbox limit memory_mb must be >= 64 (the interpreter needs ~30), got {self.memory_mb}")
        if self.open_files < 16:
            raise ValueError(f"sandbox limit open_files must be >= 16 (imports need a few), got {self.open_files}")

    def reported(self, *, network_reachable: bool) -> SandboxLimits:
        """As a CodeValidation records them; network_reachable is True only when isolation failed."""
        return SandboxLimits(
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.wall_seconds,
            memory_mb=self.memory_mb,
            file_size_kb=self.file_size_kb,
            processes=0,
            network=network_reachable,
        )
