"""The code sandbox for real: model-written code in a confined child process, each escape contained and reported.

No broker and no model: only subprocesses. Each escape test checks the outcome outside the sandbox too (the file
is not there, the listener got no connection), not only what the sandbox says about itself.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.codegen.bench_tasks import BENCH_TASKS, BenchTask
from models.codegen.limits import RunLimits
from models.codegen.sandbox import SandboxResult, run_tests
from models.codegen.validate import validate_code

# Short limits keep the endless loop and the sleep cheap; the memory limit is far below what the bombs ask for.
LIMITS = RunLimits(cpu_seconds=2, wall_seconds=6.0, memory_mb=128, file_size_kb=256)


def run_one(code: str, call: str = "attempt()") -> SandboxResult:
    return run_tests(code, f"def test_escape():\n    {call}\n", LIMITS)


def test_passing_tests_pass() -> None:
    code = "def reverse_words(text):\n    return ' '.join(reversed(text.split()))\n"
    tests = (
        "def test_two_words():\n    assert reverse_words('hello world') == 'world hello'\n\n"
        "def test_empty():\n    assert reverse_words('') == ''\n"
    )
    result = run_tests(code, tests, LIMITS)
    assert (result.passed, result.failed, result.violation, result.complete) == (2, 0, None, True)
    assert result.network_isolated and result.unavailable is None


def test_a_failing_test_is_reported_with_the_values_it_compared() -> None:
    code = "def add(a, b):\n    return a - b\n"
    tests = "def test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n"
    result = run_tests(code, tests, LIMITS)
    assert (result.passed, result.failed, result.violation) == (1, 1, None)
    assert len(result.errors) == 1 and result.errors[0].startswith("test_add: AssertionError")
    assert "left: -1" in result.errors[0] and "right: 3" in result.errors[0]


def test_pytest_style_tests_run_without_pytest_installed_in_the_sandbox() -> None:
    code = "def divide(a, b):\n    return a / b\n"
    tests = (
        "import pytest\n\n@pytest.mark.parametrize('a, b, expected', [(1, 3, 0.3333333), (4, 2, 2)])\n"
        "def test_divide(a, b, expected):\n    assert divide(a, b) == pytest.approx(expected, rel=1e-6)\n\n"
        "def test_by_zero():\n    with pytest.raises(ZeroDivisionError):\n        divide(1, 0)\n"
    )
    result = run_tests(code, tests, LIMITS)
    assert (result.passed, result.failed) == (3, 0), result.errors


def test_fork_is_refused() -> None:
    result = run_one("import os\n\ndef attempt():\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n")
    assert result.violation == "fork" and result.passed == 0


def test_starting_a_program_is_refused() -> None:
    result = run_one("import subprocess\n\ndef attempt():\n    subprocess.run(['/bin/true'], check=True)\n")
    assert result.violation == "fork" and result.passed == 0


def test_an_endless_loop_is_stopped_by_the_cpu_limit() -> None:
    result = run_one("def attempt():\n    while True:\n        pass\n")
    assert result.violation == "cpu_time" and result.failed == 1


def test_a_memory_bomb_is_stopped_by_the_memory_limit() -> None:
    result = run_one("def attempt():\n    chunks = []\n    while True:\n        chunks.append(bytearray(16 * 2**20))\n")
    assert result.violation == "memory" and result.failed == 1


def test_a_sleep_past_the_wall_clock_limit_is_killed() -> None:
    result = run_one("import time\n\ndef attempt():\n    time.sleep(60)\n")
    assert result.violation == "wall_time" and result.failed == 1


def test_a_write_to_tmp_is_refused_and_leaves_no_file() -> None:
    target = Path(f"/tmp/escape-{uuid.uuid4().hex}")  # world-writable: only the sandbox stops it
    result = run_one(f"def attempt():\n    with open({str(target)!r}, 'w') as f:\n        f.write('out')\n")
    assert result.violation == "write"
    assert not target.exists()


@pytest.mark.parametrize("up", ["../", "../../"])
def test_a_write_above_the_working_directory_is_refused_and_leaves_no_file(up: str) -> None:
    # The code runs in <temp>/sluice-sandbox-*/work: ../ is the sandbox's own root-owned dir (removed after the run,
    # so only the report can show the refusal), ../../ is the temp root, which outlives the run and is checked.
    name = f"outside-{uuid.uuid4().hex}"
    result = run_one(f"def attempt():\n    with open('{up}{name}', 'w') as f:\n        f.write('out')\n")
    assert result.violation == "write"
    assert not (Path(tempfile.gettempdir()) / name).exists()


@pytest.fixture()
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    yield server
    server.close()


def test_a_connection_to_a_local_port_is_refused_and_never_arrives(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = run_one(
        f"import socket\n\ndef attempt():\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    )
    assert result.violation == "network" and result.network_isolated
    with pytest.raises(TimeoutError):
        listener.accept()


def test_a_raw_socket_that_gets_past_the_name_lookup_still_reaches_nothing(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = (
        "import socket\n\ndef attempt():\n    s = socket.socket()\n    s.settimeout(2)\n"
        f"    s.connect(('127.0.0.1', {port}))\n"
    )
    result = run_one(code)
    assert result.violation == "network"
    with pytest.raises(TimeoutError):
        listener.accept()


def test_the_worker_s_environment_does_not_reach_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = uuid.uuid4().hex
    monkeypatch.setenv("SLUICE_SECRET_TEST", secret)
    code = "import os\n\ndef attempt():\n    return os.environ.get('SLUICE_SECRET_TEST')\n"
    result = run_tests(code, "def test_no_secret():\n    assert attempt() is None\n", LIMITS)
    assert (result.passed, result.failed) == (1, 0), result.errors
    assert os.environ["SLUICE_SECRET_TEST"] == secret  # set in this process all along


def test_a_signal_to_another_process_is_refused() -> None:
    result = run_one("import os\nimport signal\n\ndef attempt():\n    os.kill(os.getppid(), signal.SIGTERM)\n")
    assert result.violation == "signal" and result.passed == 0


def test_a_refusal_the_code_catches_is_still_reported() -> None:
    code = (
        "import os\n\ndef attempt():\n    try:\n        os.system('true')\n"
        "    except BaseException:\n        return 'ignored'\n"
    )
    result = run_one(code)
    assert result.violation == "fork" and result.passed == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops to nobody only when it starts as root")
def test_the_code_runs_as_nobody() -> None:
    result = run_tests(
        "import os\n\ndef uid():\n    return os.getuid()\n", "def test_uid():\n    assert uid() == 65534\n", LIMITS
    )
    assert (result.passed, result.failed) == (1, 0), result.errors


def test_a_validation_of_an_escaping_answer_does_not_pass() -> None:
    answer = "```python\nimport os\n\ndef add(a, b):\n    os.system('true')\n    return a + b\n```"
    validation, _ = validate_code(
        answer, language="python", request_tests="def test_add():\n    assert add(1, 2) == 3\n", limits=LIMITS
    )
    assert not validation.passed and validation.sandbox_violation == "fork"
    assert validation.limits.network is False and validation.limits.processes == 0


# One correct solution per bench task: a task whose tests no code can pass would lower the bench's pass rates
# for a reason that is not the model's.
REFERENCE_SOLUTIONS = {
    "reverse_words": "def reverse_words(text):\n    return ' '.join(reversed(text.split()))\n",
    "fizzbuzz": (
        "def fizzbuzz(n):\n    return ['FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0"
        " else str(i) for i in range(1, n + 1)]\n"
    ),
    "is_palindrome": (
        "def is_palindrome(text):\n    kept = [c.lower() for c in text if c.isalnum()]\n    return kept == kept[::-1]\n"
    ),
    "sum_of_digits": "def sum_of_digits(n):\n    return sum(int(d) for d in str(abs(n)))\n",
    "chunk": "def chunk(items, size):\n    return [items[i : i + size] for i in range(0, len(items), size)]\n",
    "word_counts": (
        "def word_counts(text):\n    counts = {}\n    for word in text.lower().split():\n"
        "        counts[word] = counts.get(word, 0) + 1\n    return counts\n"
    ),
    "fahrenheit_to_celsius": "def fahrenheit_to_celsius(f):\n    return (f - 32) * 5 / 9\n",
    "dedupe": "def dedupe(items):\n    return list(dict.fromkeys(items))\n",
    "flatten": "def flatten(lists):\n    return [item for inner in lists for item in inner]\n",
    "max_subarray": (
        "def max_subarray(numbers):\n    best = current = numbers[0]\n    for x in numbers[1:]:\n"
        "        current = max(x, current + x)\n        best = max(best, current)\n    return best\n"
    ),
    "parse_pairs": (
        "def parse_pairs(text):\n    return dict(part.split('=', 1) for part in text.split(';') if part)\n"
    ),
    "to_roman": (
        "def to_roman(n):\n    out = ''\n    for value, numeral in [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'),"
        " (100, 'C'), (90, 'XC'), (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]:\n"
        "        while n >= value:\n            out += numeral\n            n -= value\n    return out\n"
    ),
}


@pytest.mark.parametrize("task", BENCH_TASKS, ids=[task.name for task in BENCH_TASKS])
def test_every_bench_task_can_be_passed(task: BenchTask) -> None:
    result = run_tests(REFERENCE_SOLUTIONS[task.name], task.tests, LIMITS)
    assert (result.passed, result.failed, result.complete) == (1, 0, True), result.errors
