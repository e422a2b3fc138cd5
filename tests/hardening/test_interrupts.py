"""Exceptions raised by signal handlers in the middle of a decision (Ctrl-C, a signal-based request
timeout): they may land between any two engine calls or lock acquisitions, and must leave no lock
held and no durable_rules state behind.

Each run is a subprocess (signal handlers run in the main thread; a lock left held would hang the
run, which the timeout turns into a failure). `make soak` runs it at 10 times the size.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from csrules.cli import main as cli_main
from tests.helpers import ROOT

SCALE = int(os.environ.get("CSRULES_FUZZ_SCALE", "1"))

# The start of the scripts below: `raised` (argv[2]) when the timer rings while `armed`.
_ALARM = textwrap.dedent(
    """
    import random, signal, sys
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    calls = int(sys.argv[1])

    class RequestTimeout(Exception):  # a web framework's timeout: an Exception, not a BaseException
        pass

    raised = KeyboardInterrupt if sys.argv[2] == "KeyboardInterrupt" else RequestTimeout
    armed = False

    def on_alarm(signum, frame):
        global armed
        if armed:
            armed = False
            raise raised

    signal.signal(signal.SIGALRM, on_alarm)
    rng = random.Random(0)
    """
)

_SCRIPT = _ALARM + textwrap.dedent(
    """
    import threading

    def ticket(n, amount):
        # `opened_at` as text with an offset: a timeout landing while it is checked was
        # `invalid-datetime`, naming the ticket's own correct value
        return {"id": f"T-{n}", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
                "request": {"kind": "refund", "amount": amount}, "opened_at": "2026-11-23T09:12:00-05:00"}

    engine = csrules.load()
    quiet = {"id": "Q", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"}}
    baseline = [engine.evaluate(t, now=NOW).to_json() for t in (ticket(0, "45.00"), quiet)]
    interrupted = 0
    for n in range(calls):
        try:
            armed = True
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.00002, 0.0004))
            engine.evaluate(ticket(n, rng.choice(["5.00", "45.00", "150.00"])) if n % 3 else quiet, now=NOW)
        except raised:
            interrupted += 1
        except csrules.TicketError as error:  # landed while the ticket was read: named, not hidden
            assert "RequestTimeout" in str(error), error
            interrupted += 1
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    # No lock held: another thread, with another Engine of the same rulesets, gets through.
    other = threading.Thread(target=lambda: csrules.load().evaluate(quiet, now=NOW), daemon=True)
    other.start()
    other.join(30)
    assert not other.is_alive(), "a ruleset lock was left held"
    # No fact left behind in any ruleset's durable_rules state.
    from csrules import _durable
    for ruleset in _durable._cache.values():
        if ruleset._handle is not None:
            assert _durable._engine.get_facts(ruleset._handle, _durable._SID) == "[]", ruleset._name
    # No state left behind: more sessions than the engine's 1,024-state cap still work, and decide as before.
    for n in range(1100):
        engine.evaluate(ticket(n, "45.00"), now=NOW)
    assert [engine.evaluate(t, now=NOW).to_json() for t in (ticket(0, "45.00"), quiet)] == baseline
    print(interrupted)
    """
)


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "RequestTimeout"])
def test_interrupts_anywhere_in_a_decision_leave_no_lock_held_and_no_state_behind(raised: str) -> None:
    """An Exception subclass (a framework's request timeout) was taken for an engine failure: the
    ruleset was forgotten, and after 4 of them disabled ("reload the policies")."""
    calls = 3_000 * SCALE
    assert _interrupted(_SCRIPT, calls, raised) > calls // 4  # the interrupts did land inside decisions


def _interrupted(script: str, calls: int, *args: str) -> int:
    """How many of `calls` an `_ALARM` script (given `args`) counted interrupted; it ended well."""
    result = subprocess.run(
        [sys.executable, "-c", script, str(calls), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120 * SCALE,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout)


_SERIALIZE = _ALARM + textwrap.dedent(
    """
    import gc, pathlib
    engine = csrules.load()
    ticket = {"id": "T", "customer": {"id": "C-1", "lifetime_value": "1200.00"},
              "agent": {"id": "A-1", "role": "front_line"}, "request": {"kind": "refund", "amount": "45.00"},
              "attributes": {"score": 0.25, "ratio": 1.5}}
    decision = engine.evaluate(ticket, now=NOW)
    log = csrules.DecisionLog(pathlib.Path(sys.argv[3]) / "decisions.jsonl", fsync=False)
    paths = [str(p) for p in sorted(csrules.default_policies().glob("*.yaml"))]
    # Each call and about how long it takes here, uninterrupted (seconds): timers land all along it.
    work = [(decision.to_json, 0.0004), (lambda: decision.model_dump(mode="json"), 0.0001),
            (decision.model_dump_json, 0.0002), (lambda: log.append(decision), 0.002),
            (lambda: csrules.load(paths), 0.01)]
    interrupted = off = 0
    for n in range(calls):
        try:
            armed = True
            call, takes = work[n % len(work)]
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.00001, takes * 1.5))
            call()
        except raised:
            interrupted += 1
        finally:
            armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        off += not gc.isenabled()
    csrules.load(paths)  # uninterrupted: a pause whose end an interrupt cut short ends here
    assert gc.isenabled(), f"load() left the garbage collector off (off after {off} interrupted calls)"
    report = csrules.verify_log(log.path)  # interrupted appends leave a log that verifies
    assert report.ok and report.records > 0, report
    print(interrupted)
    """
)


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "RequestTimeout"])
def test_interrupts_while_a_decision_is_written_or_a_bundle_loaded_reach_the_caller_as_raised(
    raised: str, tmp_path: Path
) -> None:
    """pydantic wrapped an interrupt landing in a serializer function of csrules' into its own
    PydanticSerializationError (a ValueError: Ctrl-C swallowed by `except Exception`; a log append
    said "not a decision"); one landing in `load()` just after the garbage collector was paused
    left it off for the rest of the process."""
    calls = 2_000 * SCALE
    assert _interrupted(_SERIALIZE, calls, raised, str(tmp_path)) > calls // 4  # they landed inside


_BULK = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": "45.00"}}
    engine = csrules.load()
    try:
        print("loaded", flush=True)
        for _ in engine.evaluate_many((ticket for _ in range(10**8)), now=NOW, workers=2, chunk_size=50):
            pass
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.2, 2.5])
def test_ctrl_c_during_evaluate_many_with_workers_ends_the_batch_quietly(delay: float) -> None:
    """Ctrl-C at a terminal reaches the whole process group. `ProcessPoolExecutor` started each
    worker at a `submit`, with Ctrl-C live: a worker still importing csrules printed its
    KeyboardInterrupt traceback. Now every worker starts with it blocked and drops it; the caller
    alone handles it, and the workers end with the batch."""
    assert _ctrl_c([sys.executable, "-c", _BULK], delay) == (130, "")


def _first_line(process: subprocess.Popen[bytes]) -> None:
    """Wait for the job's first line of output (the caller's own import is not what is tested)."""
    assert process.stdout is not None
    process.stdout.readline()


def _ctrl_c(
    command: list[str], delay: float, *, ready: Callable[[subprocess.Popen[bytes]], None] = _first_line
) -> tuple[int, str]:
    """Run `command` as a terminal's job, press Ctrl-C `delay` s after it is `ready`, and return
    its exit code and stderr; checks that no process of the job outlives it. Its standard input
    stays open until then."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    ready(process)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"still running 120 s after Ctrl-C (sent after {delay} s)")
    assert _group_ends(process.pid, 10)  # no worker outlived the job
    return process.returncode, err.decode()


def _group_ends(group: int, seconds: float) -> bool:
    """Whether process group `group` has no process left within `seconds` (multiprocessing's
    resource tracker ends just after its parent)."""

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


_DEADLINE = textwrap.dedent(
    """
    import multiprocessing, signal, sys
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": "45.00"}}

    def on_alarm(signum, frame):  # a request deadline, as web frameworks raise one
        raise TimeoutError("deadline")

    if __name__ == "__main__":
        engine = csrules.load()
        signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, float(sys.argv[1]))
            for _ in engine.evaluate_many((ticket for _ in range(10**8)), now=NOW, workers=2, chunk_size=50):
                pass
        except TimeoutError as exc:
            print("TimeoutError:", exc)
        print("workers left:", len(multiprocessing.active_children()))
    """
)


@pytest.mark.parametrize("delay", [0.4, 1.5])
def test_a_deadline_raised_while_evaluate_many_waits_for_workers_is_the_callers(
    tmp_path: Path, delay: float
) -> None:
    """A TimeoutError (an OSError) raised by a signal handler while the results were awaited
    was taken for a broken pipe: "EngineError: a worker process failed: it closed its pipe",
    10 s later."""
    done = _run_script(tmp_path / "deadline.py", _DEADLINE, str(delay))
    assert (done.returncode, done.stdout, done.stderr) == (0, "TimeoutError: deadline\nworkers left: 0\n", "")


def _run_script(path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Write `text` to `path` (spawned workers import the main module by its path) and run it."""
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(path), *args], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


_THREADED = textwrap.dedent(
    """
    import sys, threading
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": "45.00"}}

    stop, finished = threading.Event(), threading.Event()

    def batch():
        try:
            for _ in engine.evaluate_many((ticket for _ in range(10**8)), now=NOW, workers=2, chunk_size=50):
                if stop.is_set():
                    break
        finally:
            finished.set()

    if __name__ == "__main__":
        engine = csrules.load()
        thread = threading.Thread(target=batch)  # a service's job thread
        # Waits on an Event: an interrupted Thread.join can mark a running thread as ended.
        try:
            thread.start()
            print("started", flush=True)
            finished.wait()
        except KeyboardInterrupt:
            stop.set()  # the service stops its job, then exits
            finished.wait()
            sys.exit(130)
    """
)


@pytest.mark.parametrize("delay", [0.1, 0.5, 1.5])
def test_ctrl_c_while_a_thread_runs_evaluate_many_reaches_only_the_main_thread(
    tmp_path: Path, delay: float
) -> None:
    """Started from a thread other than the main one, workers did not ignore Ctrl-C while they
    imported csrules: each printed a KeyboardInterrupt traceback, and the batch failed with
    "a worker process failed: it was stopped by SIGINT"."""
    script = tmp_path / "threaded.py"
    script.write_text(_THREADED, encoding="utf-8")
    assert _ctrl_c([sys.executable, str(script)], delay) == (130, "")


_OTHER_THREAD_SIGNAL = textwrap.dedent(
    """
    import multiprocessing, os, signal, sys, threading, time
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": "45.00"}}

    class Deadline(Exception):
        pass

    def on_signal(signum, frame):
        raise Deadline("deadline")

    def fire(delay):  # a service's watchdog thread
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGUSR1)

    if __name__ == "__main__":
        engine = csrules.load()
        signal.signal(signal.SIGUSR1, on_signal)
        try:  # the deadline may come at once: before the batch starts, too
            threading.Thread(target=fire, args=(float(sys.argv[1]),)).start()
            for _ in engine.evaluate_many((ticket for _ in range(10**8)), now=NOW, workers=4, chunk_size=50):
                pass
        except Deadline as exc:
            print("Deadline:", exc)
        print("workers left:", len(multiprocessing.active_children()))
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05])
def test_a_signal_handler_raising_while_workers_start_leaves_none_behind(
    tmp_path: Path, delay: float
) -> None:
    """Signals blocked in the starting thread still reached the main thread's handler through
    another thread: a worker being started was never recorded (it printed "EOFError: Ran out of
    input"), and the handler's exception became "the worker processes could not start"."""
    done = _run_script(tmp_path / "watchdog.py", _OTHER_THREAD_SIGNAL, str(delay))
    assert (done.returncode, done.stdout, done.stderr) == (0, "Deadline: deadline\nworkers left: 0\n", "")


_START_RAISES = textwrap.dedent(
    """
    import multiprocessing, sys, threading, time
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": "45.00"}}

    class Deadline(Exception):
        pass

    original = threading.Thread.start

    def start(self):  # a signal handler raising inside Thread.start, on either side of the thread's creation
        if self.name != "csrules-workers-start":
            return original(self)
        if sys.argv[1] == "before":
            raise Deadline("before the thread exists")
        original(self)
        raise Deadline("after the thread exists")

    if __name__ == "__main__":
        engine = csrules.load()
        threading.Thread.start = start
        try:
            for _ in engine.evaluate_many((ticket for _ in range(10**8)), now=NOW, workers=4, chunk_size=50):
                pass
        except Deadline as exc:
            print("Deadline:", exc)
        threading.Thread.start = original
        time.sleep(1.0)  # a spawning that went on unobserved would start workers meanwhile
        print("workers left:", len(multiprocessing.active_children()))
        decided = list(engine.evaluate_many([ticket] * 3, now=NOW, workers=2, trace=False))
        print("then:", [d.outcome for d in decided], len(multiprocessing.active_children()))
    """
)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_signal_handler_raising_inside_thread_start_leaves_no_worker_behind(
    tmp_path: Path, where: str
) -> None:
    """`Thread.start` of the thread that starts the workers was outside the `try`: an exception
    raised in it once the thread existed let the spawning go on unobserved, and its workers ran on
    after the batch had failed."""
    done = _run_script(tmp_path / "start.py", _START_RAISES, where)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"Deadline: {where} the thread exists\nworkers left: 0\nthen: ['escalate', 'escalate', 'escalate'] 0\n",
        "",
    )


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08])
def test_ctrl_c_while_the_command_still_imports_csrules_prints_nothing(delay: float) -> None:
    """The console script imported `csrules.cli.main` itself, so a Ctrl-C in the ~0.3 s the
    import takes (pydantic building csrules' models) printed Python's KeyboardInterrupt traceback
    before any of csrules' handling existed. The `csrules` command now starts from a launcher
    outside the package that ends such an interrupt as any other: exit 130, nothing printed.

    `delay` counts from the moment pydantic's compiled core is mapped into the process: it is
    imported only by csrules, so the launcher is running and csrules' import has begun. The
    command reads its ticket from a standard input left open, so it cannot end before the signal.
    """
    command = [str(Path(sys.executable).parent / "csrules"), "eval", "-", "--now", "2026-11-23T15:00:00Z"]
    assert _ctrl_c(command, delay, ready=_importing_pydantic) == (130, "")


def _importing_pydantic(process: subprocess.Popen[bytes]) -> None:
    """Wait until pydantic's compiled core is mapped into the process (at most 60 s)."""
    deadline = time.monotonic() + 60
    maps = Path(f"/proc/{process.pid}/maps")
    while (
        process.poll() is None and time.monotonic() < deadline and b"_pydantic_core" not in maps.read_bytes()
    ):
        time.sleep(0.002)


def _stop_when(
    command: list[str], ready: Callable[[], bool], signum: int, *, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run `command`, send it `signum` (it alone, as `kill` or a service manager's stop does) once
    `ready()`, and return its exit code and stderr."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if process.poll() is not None:
        _, err = process.communicate()
        pytest.fail(f"it ended before it was ready: exit {process.returncode}, {err.decode()!r}")
    os.kill(process.pid, signum)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("still running 60 s after the signal")
    assert _group_ends(process.pid, 10)
    return process.returncode, err.decode()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_or_sighup_leaves_the_output_as_it_was_and_no_temporary_file(
    tmp_path: Path, signum: int, code: int
) -> None:
    """Only Ctrl-C was cleaned up after: a `kill` (SIGTERM) or a closed terminal (SIGHUP) while
    the command wrote its output left `.OUT.<pid>.<hex>.tmp` beside it, for ever."""
    out = tmp_path / "tickets.jsonl"
    out.write_text("the old content\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "csrules",
        "generate-tickets",
        "--count",
        "10000000",
        "--output",
        str(out),
    ]

    def writing() -> bool:  # the temporary file has its first tickets
        return any(p.stat().st_size > 0 for p in tmp_path.glob(".tickets.jsonl.*.tmp"))

    assert _stop_when(command, writing, signum) == (code, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tickets.jsonl"]
    assert out.read_text(encoding="utf-8") == "the old content\n"


def test_sigterm_during_diff_removes_its_scratch_directory(tmp_path: Path) -> None:
    """`csrules diff` keeps its decisions in a scratch directory under TMPDIR: SIGTERM left it."""
    corpus, scratch = tmp_path / "corpus.jsonl", tmp_path / "tmp"
    scratch.mkdir()
    generated = subprocess.run(
        [sys.executable, "-m", "csrules", "generate-tickets", "--count", "20000", "--output", str(corpus)],
        check=False,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    policies = str(ROOT / "policies")
    command = [sys.executable, "-m", "csrules", "diff", policies, policies, "--tickets", str(corpus)]
    env = {**os.environ, "TMPDIR": str(scratch)}

    def started() -> bool:  # its scratch directory exists
        return any(scratch.glob("csrules-diff-*"))

    assert _stop_when(command, started, signal.SIGTERM, env=env) == (143, "")
    assert list(scratch.iterdir()) == []


def test_a_sighup_ignored_when_the_command_starts_stays_ignored(tmp_path: Path) -> None:
    """`nohup csrules ...`: the command must outlive the terminal that started it."""
    out = tmp_path / "tickets.jsonl"
    command = [
        sys.executable,
        "-c",
        "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); sys.argv[0] = 'csrules'; "
        "from csrules.cli.main import entry; entry()",
        "generate-tickets",
        "--count",
        "3000",
        "--output",
        str(out),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".tickets.jsonl.*.tmp")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGHUP)
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.decode()) == (0, "")
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3000


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="reads /proc/PID/wchan")
def test_sighup_and_sigterm_together_end_the_command_once_and_quietly(tmp_path: Path) -> None:
    """A closed terminal and a `kill` at once: the second signal's handler ran during the first's
    cleanup (or at interpreter shutdown) and printed a traceback."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "csrules", "generate-tickets", "--count", "5", "--output", str(fifo)]
    for delay in (0, 0.005, 0.02, 0.08):  # the second one within the cleanup, or after
        process = subprocess.Popen(command, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
        wchan = Path(f"/proc/{process.pid}/wchan")
        deadline = time.monotonic() + 60
        while wchan.read_text() != "wait_for_partner" and time.monotonic() < deadline:  # opening the FIFO
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGHUP)
        time.sleep(delay)
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.kill(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        # 129 or 143: the first handled; -15: SIGTERM after the command ended, as Python's default.
        assert (process.returncode, err.decode()) in ((129, ""), (143, ""), (-15, "")), delay


_LATE_SIGTERM = textwrap.dedent(
    """
    import atexit, os, signal, sys, time

    def late():  # a `kill` that arrives once the command has finished, while Python exits
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)

    atexit.register(late)
    sys.argv = ["csrules", "generate-tickets", "--count", "1", "--output", os.devnull]
    from csrules.cli.main import entry
    entry()
    """
)


def test_a_sigterm_after_the_command_ended_ends_python_as_its_default_does(tmp_path: Path) -> None:
    """csrules' handler stayed installed after the command: a SIGTERM while Python exited raised
    in an atexit callback and printed its traceback. Now the default is back: it ends at once."""
    done = _run_script(tmp_path / "late.py", _LATE_SIGTERM)
    assert (done.returncode, done.stdout, done.stderr) == (-signal.SIGTERM, "", "")


_PACKING = textwrap.dedent(
    """
    import sys
    from decimal import Decimal
    from datetime import datetime, timezone
    import csrules

    NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = {"id": "T", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
              "request": {"kind": "refund", "amount": Decimal("45.00")}}

    def deadline(frame, event, arg):  # a signal handler's TimeoutError, landing while a ticket is packed
        if event == "call" and frame.f_code.co_name == "reducer_override":
            sys.settrace(None)
            raise TimeoutError("deadline")

    if __name__ == "__main__":
        engine = csrules.load()
        decided = 0
        sys.settrace(deadline)
        try:
            for _ in engine.evaluate_many([ticket] * 5, now=NOW, workers=2):
                decided += 1
        except TimeoutError as exc:
            print("TimeoutError:", exc)
        print("decided:", decided)
    """
)


def test_a_deadline_landing_while_a_ticket_is_packed_for_a_worker_is_the_callers(tmp_path: Path) -> None:
    """It was taken for a ticket a worker could not rebuild: the ticket was decided in this
    process and the batch ran on past the deadline (a run of 10**8 tickets, for good: once seen
    as a 120 s timeout of the test above, in a full run on a loaded machine)."""
    done = _run_script(tmp_path / "packing.py", _PACKING)
    assert (done.returncode, done.stdout, done.stderr) == (0, "TimeoutError: deadline\ndecided: 0\n", "")


@pytest.mark.parametrize("command", [["verify", "no-such-decision.json"], ["eval", "no-such-ticket.json"]])
def test_a_command_whose_sigterm_was_turned_into_an_error_ends_as_terminated(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydantic turns an exception raised while it builds a model's schema into a SchemaError, and
    one raised while it matches a pattern into a mismatch: `csrules diff` ended by SIGTERM said
    "internal error" (exit 3) or refused a correct policy file (exit 2), 3 times in 110 on a busy
    machine. A SIGTERM received ends the command as terminated, whatever error followed it."""
    monkeypatch.setattr(cli_main, "_received", [signal.SIGTERM])
    with pytest.raises(cli_main._Terminated) as ended:
        cli_main.main(command)
    assert ended.value.signum == signal.SIGTERM
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli_main, "_received", [])
    assert cli_main.main(command) == 2  # without one: the error, as before
