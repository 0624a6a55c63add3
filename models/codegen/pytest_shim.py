"""The part of pytest that model-written tests use, importable as `pytest` inside the sandbox (no site-packages).

raises, approx, fail, skip and mark.parametrize (expanded by the runner); fixtures are not available.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any


class Failed(AssertionError):
    """pytest.fail(): the test fails with the given reason."""


class Skipped(Exception):
    """pytest.skip(): the runner counts the test as passed (nothing failed)."""


class ExceptionInfo:
    """What `with raises(...) as info` gives: the exception, once the block has raised it."""

    value: BaseException | None = None

    @property
    def type(self) -> type[BaseException] | None:
        return type(self.value) if self.value is not None else None


@contextmanager
def _raises_block(expected: Any, match: str | None) -> Iterator[ExceptionInfo]:
    info = ExceptionInfo()
    try:
        yield info
    except expected as error:
        if match is not None and not re.search(match, str(error)):
            raise Failed(f"{type(error).__name__}({error!s}) does not match {match!r}") from error
        info.value = error
        return
    raise Failed(f"DID NOT RAISE {expected}")


def raises(expected: Any, *args: Any, match: str | None = None, **kwargs: Any) -> Any:
    """`with raises(E):` or `raises(E, function, *args)`, as pytest.raises."""
    if not args:
        return _raises_block(expected, match)
    with _raises_block(expected, match) as info:
        args[0](*args[1:], **kwargs)
    return info


class approx:  # pytest's spelling, so that tests read the same inside the sandbox
    """Equal within rel (default 1e-6) or abs (default 1e-12), for numbers and flat sequences of numbers."""

    def __init__(self, expected: Any, rel: float | None = None, abs: float | None = None) -> None:
        self.expected = expected
        self.rel = 1e-6 if rel is None else rel
        self.abs = 1e-12 if abs is None else abs

    def _close(self, actual: Any, expected: Any) -> bool:
        try:
            return math.isclose(actual, expected, rel_tol=self.rel, abs_tol=self.abs)
        except TypeError:
            return bool(actual == expected)

    def __eq__(self, actual: object) -> bool:
        if isinstance(self.expected, list | tuple):
            if not isinstance(actual, list | tuple) or len(actual) != len(self.expected):
                return False
            return all(self._close(a, e) for a, e in zip(actual, self.expected, strict=True))
        return self._close(actual, self.expected)

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"approx({self.expected!r})"


def fail(reason: str = "") -> None:
    raise Failed(reason)


def skip(reason: str = "") -> None:
    raise Skipped(reason)


class _Mark:
    @staticmethod
    def parametrize(argnames: str | Iterable[str], argvalues: Iterable[Any]) -> Callable[[Any], Any]:
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)

        def mark(function: Any) -> Any:
            # Stacked decorators apply bottom-up; the runner takes their product in the order written.
            function.__sluice_params__ = [(names, list(argvalues)), *getattr(function, "__sluice_params__", [])]
            return function

        return mark

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Other marks (slow, timeout, …) change nothing here: a decorator that returns the function as it is.
        def mark(*args: Any, **kwargs: Any) -> Any:
            if len(args) == 1 and callable(args[0]) and not kwargs:
                return args[0]
            return lambda function: function

        return mark


mark = _Mark()
