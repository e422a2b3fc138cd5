"""Streaming: bounded read-ahead with workers, corpus order, line reading, the progress counter."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

import csrules
from csrules import EngineError
from csrules._workers import Workers
from csrules.cli.diff import _Progress, read_lines
from csrules.impact import DEFAULT_NOW, LineResult, compare_line, evaluate_corpus
from tests.helpers import ROOT, refund, unrebuildable

SPEC = csrules.load(ROOT / "policies")

_T = TypeVar("_T")


def _within(seconds: float, run: Callable[[], _T]) -> _T:
    """run() in a thread: a test that would wait forever fails instead."""
    outcome: list[_T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(run())
        except BaseException as exc:  # handed to the test's thread
            error.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    if error:
        raise error[0]
    return outcome[0]


def _workers() -> list[multiprocessing.process.BaseProcess]:
    """The worker processes this process started and that did not end."""
    return multiprocessing.active_children()


def test_workers_read_only_a_bounded_window_ahead() -> None:
    """Memory stays flat: with 2 workers and chunks of 4, at most 2 * 4 * 4 lines are in flight."""
    read = 0

    def lines() -> Iterator[tuple[int, str]]:
        nonlocal read
        for number in range(1, 10_001):
            read += 1
            yield number, json.dumps(refund(f"{number % 60}.00"))

    results = evaluate_corpus(lines(), SPEC, SPEC, workers=2, chunk=4)
    first = [next(results).line for _ in range(3)]
    assert first == [1, 2, 3]
    assert read <= 3 + 32 + 4  # consumed, the window, one chunk being assembled
    results.close()  # stops the pool


def test_workers_keep_corpus_order() -> None:
    lines = [(n, json.dumps(refund(f"{n % 70}.00") | {"id": f"T-{n}"})) for n in range(1, 301)]
    results = list(evaluate_corpus(iter(lines), SPEC, SPEC, workers=2, chunk=7))
    assert [r.line for r in results] == list(range(1, 301))
    assert [r.ticket_id for r in results] == [f"T-{n}" for n in range(1, 301)]


def _cannot_start() -> None:
    """A worker initializer that fails (spawn imports it by name: module level)."""
    raise RuntimeError("no engine for you")


def _echo(payload: int) -> int:
    return payload


def test_a_worker_that_cannot_start_ends_the_stream_with_engine_error() -> None:
    """multiprocessing.Pool restarted a worker whose initializer failed, forever: the diff never ended."""

    def run() -> None:
        with Workers(2, _echo, _cannot_start) as pool:
            for number in range(8):
                pool.submit(number)
            pool.result()

    with pytest.raises(EngineError) as caught:
        _within(60, run)
    assert str(caught.value) == "a worker process failed: it could not start: RuntimeError: no engine for you"
    assert _workers() == []


def test_a_worker_that_cannot_rebuild_an_engine_ends_the_stream_with_engine_error() -> None:
    lines = [(n, json.dumps(refund("5.00"))) for n in range(1, 41)]
    with pytest.raises(EngineError) as caught:
        _within(60, lambda: list(evaluate_corpus(iter(lines), SPEC, unrebuildable(SPEC), workers=2, chunk=4)))
    assert str(caught.value) == (
        "a worker process failed: it could not start: RuntimeError: not rebuilt in another process"
    )
    assert _workers() == []


def test_workers_compare_under_the_engines_given_even_after_their_files_changed(tmp_path: Path) -> None:
    """Workers loaded the policy paths again, unchecked: a file changed after `csrules diff`
    loaded it (whose digest the report shows) changed the workers' decisions silently."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    new = csrules.load(tmp_path / "policies", params={"front_line_limit": 90})
    empowerment = tmp_path / "policies" / "empowerment.yaml"
    empowerment.write_text(
        empowerment.read_text(encoding="utf-8").replace("front_line", "x"), encoding="utf-8"
    )
    lines = [(n, json.dumps(refund(f"{n}.00") | {"id": f"T-{n}"})) for n in range(1, 101)]
    results = list(evaluate_corpus(iter(lines), SPEC, new, workers=2, chunk=7))
    assert results == [compare_line(SPEC, new, number, text, DEFAULT_NOW) for number, text in lines]
    changed = [r.line for r in results if r.change is not None]
    assert changed == list(range(21, 91))  # above 20.00 (old limit), up to 90.00 (new)


def test_a_killed_worker_ends_the_stream_with_engine_error() -> None:
    """multiprocessing.Pool lost the chunk of a worker that died (a crash in the C engine, the
    OOM killer) and waited for its result forever."""
    lines = ((n, json.dumps(refund(f"{n % 60}.00"))) for n in range(1, 1_000_000))
    seen: list[int] = []

    def consume() -> None:
        for result in evaluate_corpus(lines, SPEC, SPEC, workers=2, chunk=4):
            seen.append(result.line)
            if len(seen) == 50:
                pid = _workers()[0].pid
                assert pid is not None
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(EngineError) as caught:
        _within(60, consume)
    assert str(caught.value) == "a worker process failed: it was stopped by SIGKILL"
    assert seen[:50] == list(range(1, 51))
    assert _workers() == []


def test_closing_the_stream_early_stops_every_worker() -> None:
    lines = ((n, json.dumps(refund("5.00"))) for n in range(1, 1_000_000))
    results = evaluate_corpus(lines, SPEC, SPEC, workers=2, chunk=4)
    assert next(results).line == 1
    pids = [p.pid for p in _workers()]
    assert len(pids) == 2
    results.close()
    assert _workers() == []
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):  # ended and reaped
            os.kill(pid, 0)


def test_a_failure_reading_the_lines_comes_after_the_lines_read_before_it() -> None:
    def lines() -> Iterator[tuple[int, str]]:
        for number in range(1, 11):
            yield number, json.dumps(refund(f"{number}.00"))
        raise OSError("the disk went away")

    compared: list[LineResult] = []

    def consume() -> None:
        compared.extend(evaluate_corpus(lines(), SPEC, SPEC, workers=2, chunk=4))

    with pytest.raises(OSError, match=r"^the disk went away$"):
        _within(60, consume)
    assert [result.line for result in compared] == list(range(1, 11))
    assert _workers() == []


def test_read_lines_skips_blank_lines_and_a_bom_and_keeps_numbers() -> None:
    data = '\ufeff{"a": 1}\n\n  \n{"b": 2}\r\n'.encode() + b"\xff\n"
    assert list(read_lines(io.BytesIO(data), "t")) == [
        (1, '{"a": 1}\n'),
        (4, '{"b": 2}\r\n'),
        (5, "\udcff\n"),
    ]


def test_the_progress_counter_rewrites_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 100.1, 102.0, 102.05])
    monkeypatch.setattr("csrules.cli.diff.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = _Progress(stream)  # 100.0
    progress.update(10)  # 100.1: too soon, nothing shown
    progress.update(2_000)  # 102.0: shown
    progress.update(2_010)  # 102.05: too soon
    progress.close()
    assert stream.getvalue() == "\r2,000 tickets, 1,000/s \r\033[K"
