"""The sandbox's child: confines itself, then runs test_solution.py's tests against solution.py and reports them.

Run as `python -I -S runner.py WORK_DIR REPORT_FD LIMITS_JSON` by models.codegen.sandbox, never imported by the
worker. Standard library only: with -I -S neither the project nor site-packages is on sys.path (a `pytest` shim
next to this file covers raises, approx and mark.parametrize).

Order matters, and each step happens before any code under test is read:
1. keep the report pipe on a fresh descriptor and close the one named on the command line;
2. a new network namespace (unshare; with a new user namespace when not root): no interface but a loopback that is
   down, so nothing is reachable, not even 127.0.0.1;
3. rlimits: CPU, address space, file size, open files, no core files;
4. as root: drop to nobody (65534), because root ignores RLIMIT_NPROC and may write anywhere;
5. RLIMIT_NPROC 0, last: it counts the processes and threads of the uid the code runs as, so fork and new
   threads fail from here on (and a program cannot be started without a fork);
6. an audit hook that refuses (and records) process creation, sockets, native code loading, signals to other
   processes and writes outside WORK_DIR. It only reports: code in this interpreter could forge a report (see
   models.codegen.sandbox).
The report is JSON lines on the pipe: confined, collected, start/end per test, done.
"""

from __future__ import annotations

import ast
import ctypes
import errno
import itertools
import json
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from types import CodeType, FrameType, TracebackType
from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
NOBODY = 65534
MAX_TESTS = 200
ERROR_CHARS = 600
SOLUTION = "solution.py"
TESTS = "test_solution.py"

# Audit events and the violation each one is (https://docs.python.org/3/library/audit_events.html).
REFUSED: dict[str, str] = {
    **dict.fromkeys(
        ("os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen"), "fork"
    ),
    **dict.fromkeys(
        (
            "socket.connect",
            "socket.bind",
            "socket.sendto",
            "socket.sendmsg",
            "socket.getaddrinfo",
            "socket.gethostbyname",
            "socket.gethostbyaddr",
            "socket.getnameinfo",
        ),
        "network",
    ),
    **dict.fromkeys(("ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function"), "native_code"),
}
# Path-changing events: (audit event, how many leading arguments are paths).
PATH_EVENTS: dict[str, int] = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.rename": 2,
    "os.symlink": 2,
    "os.link": 2,
    "os.chmod": 1,
    "os.chown": 1,
    "os.truncate": 1,
    "os.utime": 1,
    "shutil.rmtree": 1,
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class SandboxViolation(BaseException):
    """Raised into the code by the audit hook. A BaseException, so that a careless `except Exception` does not
    swallow it; the hook has recorded it already, in any case."""


class Reporter:
    """JSON lines to the parent through a pipe descriptor the code is not told about."""

    def __init__(self, announced_fd: int) -> None:
        self.fd = os.dup(announced_fd)
        os.close(announced_fd)

    def send(self, **event: Any) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


class Guard:
    """The audit hook: refuses what REFUSED and PATH_EVENTS name, and keeps what it refused for the report."""

    def __init__(self, work_dir: str, report_fd: int) -> None:
        self.work_dir = os.path.realpath(work_dir)
        self.report_fd = report_fd
        self.refused: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        violation = REFUSED.get(event)
        if violation is not None:
            self.refuse(violation, f"{event}{_short(args)}")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (0, os.getpid(), os.getpgid(0)):
            # Other sandbox runs share the uid: a signal to another pid could only reach one of them.
            self.refuse("signal", f"{event}{_short(args)}")
        elif event == "open":
            path, mode, flags = [*args, None, None, None][:3]
            if isinstance(path, int):
                if path == self.report_fd:
                    self.refuse("write", "open() of the sandbox's report descriptor")
            elif _writes(mode, flags) and not self.inside(path):
                self.refuse("write", f"open({path!r}, {mode!r}) outside the sandbox directory")
        elif event in PATH_EVENTS:
            for path in args[: PATH_EVENTS[event]]:
                if not isinstance(path, int) and not self.inside(path):
                    self.refuse("write", f"{event}({path!r}) outside the sandbox directory")

    def inside(self, path: Any) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return False
        if path == os.devnull:
            return True
        resolved = os.path.realpath(os.path.join(os.getcwd(), path))
        return resolved == self.work_dir or resolved.startswith(self.work_dir + os.sep)

    def refuse(self, violation: str, detail: str) -> None:
        self.refused.append(f"{violation}: {detail}")
        raise SandboxViolation(f"sandbox refused {detail}")

    def take(self) -> list[str]:
        taken, self.refused = self.refused, []
        return taken


def _writes(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


def _short(args: tuple[Any, ...]) -> str:
    text = repr(args)
    return text if len(text) <= 120 else text[:117] + "..."


def confine(limits: dict[str, int]) -> tuple[bool, str | None]:
    """(network isolated, what failed): steps 2 to 5 of the module docstring; nothing is run when either fails."""
    libc = ctypes.CDLL(None, use_errno=True)
    root = os.geteuid() == 0
    if libc.unshare(CLONE_NEWNET if root else CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return False, f"unshare of the network failed: {os.strerror(ctypes.get_errno())}"
    cpu = limits["cpu_seconds"]
    # SIGXCPU at the soft limit kills the process (default action); the hard limit one second later is a backstop.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"], limits["file_size_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if root:
        reach_library_through_descriptors()
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        except OSError as error:
            return True, f"could not drop root to uid {NOBODY}: {error}"
        if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
            return True, "still root after setuid"
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    return True, None


def reach_library_through_descriptors() -> None:
    """Keep the standard library importable after dropping root: the interpreter may live where nobody cannot go
    (pyenv under /root, 0700), so each sys.path directory is opened now and reached as /proc/self/fd/N later; a
    path through a descriptor is not checked against the directories above it. Already imported packages move too.
    """
    moved: dict[str, str] = {}
    for entry in sys.path:
        if entry not in moved and os.path.isdir(entry):
            moved[entry] = f"/proc/self/fd/{os.open(entry, os.O_RDONLY | os.O_DIRECTORY)}"

    def move(path: str) -> str:
        for old, new in moved.items():
            if path == old or path.startswith(old + os.sep):
                return new + path[len(old) :]
        return path

    sys.path[:] = [move(entry) for entry in sys.path]
    for module in list(sys.modules.values()):
        paths = getattr(module, "__path__", None)
        if isinstance(paths, list):
            paths[:] = [move(path) for path in paths if isinstance(path, str)]
    sys.path_importer_cache.clear()


def collect(namespace: dict[str, Any], tests_file: str) -> list[tuple[str, Callable[[], object]]]:
    """test_* functions (and test_* methods of Test* classes) defined in the tests file, parametrizations expanded."""
    found: list[tuple[str, Callable[[], object]]] = []
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value) and _defined_in(value, tests_file):
            found.extend(_expand(name, value))
        elif name.startswith("Test") and isinstance(value, type) and _defined_in(value, tests_file):
            for method in sorted(m for m in vars(value) if m.startswith("test_")):
                try:
                    bound = getattr(value(), method)
                except Exception as error:  # a class that cannot be built fails each of its tests
                    found.append((f"{name}.{method}", _raiser(error)))
                else:
                    found.extend(_expand(f"{name}.{method}", bound))
    return found


def _defined_in(value: Any, tests_file: str) -> bool:
    if isinstance(value, type):
        return any(callable(v) and _defined_in(v, tests_file) for v in vars(value).values())
    code = getattr(value, "__code__", None)
    return isinstance(code, CodeType) and code.co_filename == tests_file


def _raiser(error: BaseException) -> Callable[[], object]:
    def fail() -> object:
        raise error

    return fail


def _expand(name: str, function: Callable[..., object]) -> Iterator[tuple[str, Callable[[], object]]]:
    marks: list[tuple[list[str], list[Any]]] = getattr(function, "__sluice_params__", [])
    if not marks:
        yield name, function
        return
    for index, combination in enumerate(itertools.product(*(values for _, values in marks))):
        kwargs: dict[str, Any] = {}
        for (names, _), values in zip(marks, combination, strict=True):
            items = values if len(names) > 1 else (values,)
            kwargs.update(zip(names, items, strict=False))
        yield f"{name}[{index}]", _bind(function, kwargs)


def _bind(function: Callable[..., object], kwargs: dict[str, Any]) -> Callable[[], object]:
    return lambda: function(**kwargs)


def describe(error: BaseException, tests_tree: ast.Module | None, tests_file: str) -> str:
    """One line: the exception, where in solution.py or the tests it happened, and for a bare `assert a == b` the
    two values (the way pytest would show them), so that a repair prompt can say what was wrong."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if os.path.basename(frame.filename) in (SOLUTION, TESTS)
    ]
    where = " ← ".join(f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in reversed(frames[-3:]))
    message = f"{type(error).__name__}: {error}".rstrip(": ") if str(error) else type(error).__name__
    if isinstance(error, AssertionError) and not str(error) and tests_tree is not None:
        detail = _assertion_detail(error.__traceback__, tests_tree, tests_file)
        if detail:
            message = f"AssertionError: {detail}"
    text = f"{message} [{where}]" if where else message
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def _assertion_detail(tb: TracebackType | None, tree: ast.Module, tests_file: str) -> str | None:
    frame: FrameType | None = None
    lineno = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == tests_file:
            frame, lineno = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    if frame is None:
        return None
    statement = next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Assert) and node.lineno <= lineno <= (node.end_lineno or 0)
        ),
        None,
    )
    if statement is None:
        return None
    source = ast.unparse(statement)
    test = statement.test
    # Evaluated again, as pytest's assertion rewriting would show them; the expressions of a test worth the name
    # have no side effect, and whatever goes wrong here just leaves the values out.
    try:
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left = _evaluate(test.left, frame, tests_file)
            right = _evaluate(test.comparators[0], frame, tests_file)
            return f"{source} (left: {_clip(left)}, right: {_clip(right)})"
        shown = test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test
        if isinstance(shown, ast.Constant | ast.Name):
            return source
        return f"{source} ({ast.unparse(shown)} was {_clip(_evaluate(shown, frame, tests_file))})"
    except BaseException:
        return source


def _evaluate(node: ast.expr, frame: FrameType, tests_file: str) -> object:
    return eval(compile(ast.Expression(node), tests_file, "eval"), frame.f_globals, frame.f_locals)


def _clip(value: object) -> str:
    try:
        text = repr(value)
    except BaseException:
        return "<unrepresentable>"
    return text if len(text) <= 150 else text[:147] + "..."


def _skipped(error: BaseException) -> bool:
    # pytest.skip() from the shim (pytest.py beside this file): nothing failed, so it counts as passed.
    return type(error).__name__ == "Skipped" and type(error).__module__ == "pytest"


def violation_of(error: BaseException, refused: list[str]) -> str | None:
    """The violation a test ran into: what the hook refused, else memory or file size from the exception."""
    if refused:
        return refused[0].split(":", 1)[0]
    if isinstance(error, MemoryError):
        return "memory"
    if isinstance(error, OSError) and error.errno == errno.EFBIG:
        return "file_size"
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return "fork"  # RLIMIT_NPROC counts threads too: the kernel refused a new task
    return None


def run(reporter: Reporter, guard: Guard, work_dir: str, tests_source: str) -> None:
    tests_file = os.path.join(work_dir, TESTS)
    try:
        tests_tree: ast.Module | None = ast.parse(tests_source, TESTS)
        tests_code = compile(tests_source, tests_file, "exec")
    except SyntaxError as error:
        reporter.send(
            event="collect_error", error=f"{TESTS}: SyntaxError: {error.msg} at {error.lineno}:{error.offset}"
        )
        return
    try:
        import solution  # written into work_dir by the sandbox

        namespace: dict[str, Any] = dict(vars(solution))
        # The tests see every name of the solution, as if written below it, and may also import from it.
        namespace.update(__name__="test_solution", __file__=tests_file)
        exec(tests_code, namespace)
        tests = collect(namespace, tests_file)
    except BaseException as error:
        refused = guard.take()
        reporter.send(
            event="collect_error",
            error=f"importing the code and tests: {describe(error, tests_tree, tests_file)}",
            violation=violation_of(error, refused),
        )
        return
    reporter.send(event="collected", tests=[name for name, _ in tests[:MAX_TESTS]], more=max(0, len(tests) - MAX_TESTS))
    for name, test in tests[:MAX_TESTS]:
        reporter.send(event="start", test=name)
        guard.take()
        try:
            test()
        except BaseException as error:
            if _skipped(error):
                reporter.send(event="end", test=name, ok=True, error=None, violation=None)
                continue
            violation = violation_of(error, guard.take())
            reporter.send(
                event="end", test=name, ok=False, error=describe(error, tests_tree, tests_file), violation=violation
            )
        else:
            refused = guard.take()  # refused, and the test caught it: still a violation
            if refused:
                reporter.send(
                    event="end",
                    test=name,
                    ok=False,
                    error=f"the code caught the sandbox's refusal and went on ({refused[0]})",
                    violation=violation_of(Exception(), refused),
                )
            else:
                reporter.send(event="end", test=name, ok=True, error=None, violation=None)


def main(argv: list[str]) -> int:
    work_dir, announced_fd, limits_json = argv[1], int(argv[2]), argv[3]
    reporter = Reporter(announced_fd)
    limits: dict[str, int] = json.loads(limits_json)
    sys.argv[:] = [argv[0]]  # the code need not learn the report descriptor's former number
    sys.dont_write_bytecode = True
    os.umask(0o077)
    # Read before anything of the code runs, so that solution.py cannot rewrite its own tests.
    with open(os.path.join(work_dir, TESTS), encoding="utf-8") as file:
        tests_source = file.read()
    network_isolated, problem = confine(limits)
    reporter.send(event="confined", network_isolated=network_isolated, problem=problem, uid=os.getuid())
    if problem is not None:
        return 3
    # Past the file-size limit a write then fails with EFBIG (reported per test) instead of killing the run.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(TMPDIR=work_dir, HOME=work_dir)
    os.chdir(work_dir)
    sys.path[:0] = [work_dir, os.path.dirname(os.path.abspath(__file__))]
    guard = Guard(work_dir, reporter.fd)
    sys.addaudithook(guard)
    run(reporter, guard, work_dir, tests_source)
    reporter.send(event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
