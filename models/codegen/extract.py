"""The code and the tests in a model's answer: fenced ```python blocks, test functions told apart from the code."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# A fence opens a line with three backticks and an optional language tag; the closing fence may be missing when the
# model ran out of tokens, and then the block runs to the end of the answer.
FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
PYTHON_TAGS = frozenset({"", "python", "python3", "py", "py3"})
# Top level only: a nested `def test_…` is a helper inside something else, not a test pytest would collect.
TEST_START = re.compile(r"^(?:async[ \t]+def|def)[ \t]+test_|^class[ \t]+Test")


@dataclass(frozen=True)
class Extracted:
    """What an answer holds: the code to check and the tests the model wrote beside it (None when it wrote none)."""

    code: str
    tests: str | None


def extract(answer: str) -> Extracted:
    """Code and tests from an answer: python-tagged (or untagged) fenced blocks; without any fence, the whole text.

    A block whose definitions are all tests is tests; a block mixing code and tests is split (split_tests).
    Blocks in other languages (shell, output) are not code. A block that a later one repeats, or whose every
    definition a later one redefines, is dropped: small models answer with a draft and then "the corrected code".
    """
    blocks = [body for tag, body in FENCE.findall(answer) if tag.lower() in PYTHON_TAGS]
    if not FENCE.search(answer):
        blocks = [answer]
    code_parts: list[str] = []
    test_parts: list[str] = []
    for block in blocks:
        code, tests = split_tests(block)
        if code.strip():
            code_parts.append(code.strip("\n"))
        if tests is not None:
            test_parts.append(tests.strip("\n"))
    code = "\n\n\n".join(_superseded_dropped(code_parts))
    tests = "\n\n\n".join(_superseded_dropped(test_parts)) if test_parts else None
    return Extracted(code=code + "\n" if code else "", tests=tests + "\n" if tests else None)


def _superseded_dropped(blocks: list[str]) -> list[str]:
    kept: list[str] = []
    later_names: set[str] = set()
    for block in reversed(blocks):
        names = _defined_names(block)
        if block in kept or (names and names <= later_names):
            continue
        kept.append(block)
        later_names |= names
    return kept[::-1]


def _defined_names(source: str) -> set[str]:
    """Top-level functions, classes and assigned names of source; none when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def split_tests(source: str) -> tuple[str, str | None]:
    """(code, tests) of one block: top-level `def test_…` functions and `class Test…` classes are the tests.

    A block whose other statements are only imports (or a docstring) is tests as a whole, so that a test block keeps
    the imports it needs. Unparseable source is split line by line at top-level definitions, so that a syntax error
    in the code still leaves the tests usable (and the reverse).
    """
    spans = _test_spans(source)
    if not spans:
        return source, None
    lines = source.splitlines(keepends=True)
    in_test = [False] * len(lines)
    for start, end in spans:
        for index in range(start, end):
            in_test[index] = True
    code = "".join(line for line, taken in zip(lines, in_test, strict=True) if not taken)
    tests = "".join(line for line, taken in zip(lines, in_test, strict=True) if taken)
    if _only_imports(code):
        return "", source
    return code, tests


def _test_spans(source: str) -> list[tuple[int, int]]:
    """Line ranges [start, end) (0-based) of the top-level tests, decorators included."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _test_spans_by_lines(source)
    spans = []
    for node in tree.body:
        if _is_test(node) and node.end_lineno is not None:
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            spans.append((first - 1, node.end_lineno))
    return spans


def _is_test(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test_")
    return isinstance(node, ast.ClassDef) and node.name.startswith("Test")


def _test_spans_by_lines(source: str) -> list[tuple[int, int]]:
    lines = source.splitlines()
    spans: list[tuple[int, int]] = []
    index = 0
    while index < len(lines):
        if not TEST_START.match(lines[index]):
            index += 1
            continue
        start = index
        while start > 0 and lines[start - 1].startswith("@"):
            start -= 1
        index += 1
        # The body is what is indented or blank after the def line; the next top-level line ends it.
        while index < len(lines) and (not lines[index].strip() or lines[index][0] in " \t"):
            index += 1
        spans.append((start, index))
    return spans


def _only_imports(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return all(
        isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in tree.body
    )
