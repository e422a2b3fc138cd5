"""Streaming: bounded read-ahead with workers, corpus order, line reading, the progress counter."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from csrules.cli.diff import _Progress, read_lines
from csrules.impact import EngineSpec, evaluate_corpus
from tests.helpers import ROOT, refund

SPEC = EngineSpec((str(ROOT / "policies"),))


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
