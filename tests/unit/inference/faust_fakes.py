"""The few attributes of a Faust event that the inference flow reads, for driving it without a broker."""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import TP


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float = 0.0

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass
class Event:
    message: Message
