"""What a stage is: a pure batch function that returns results and failures side by side (bytewax style)."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from agents.core.dead_letters import StageFailure
from agents.core.messages import SourcePosition
from schemas.errors import PoisonRecordError

T = TypeVar("T")
R = TypeVar("R", bound="Positioned")


class Positioned(Protocol):
    """A stage result knows which input it came from, so its outputs commit with that input."""

    @property
    def position(self) -> SourcePosition: ...


@dataclass
class StageOutcome(Generic[T]):
    """Results and failures of one batch: one bad record never fails the others."""

    results: list[T] = field(default_factory=list)
    failures: list[StageFailure] = field(default_factory=list)


def unexpected_failure(position: SourcePosition, stage: str, exc: BaseException) -> StageFailure:
    """A bug or library failure on one record. The message names the type and code location, never the
    exception text, which libraries often build from the input (and so from PII)."""
    if isinstance(exc, PoisonRecordError):
        return StageFailure(position, type(exc).__name__, str(exc), exc.stage if exc.stage != "unknown" else stage)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return StageFailure(position, type(exc).__name__, f"unexpected {type(exc).__name__} in {stage}{where}", stage)


class Stage(Protocol[R]):
    """A named batch function; the batch runner calls it in a worker thread."""

    name: str

    def run(self, batch: Sequence[SourcePosition]) -> StageOutcome[R]: ...
