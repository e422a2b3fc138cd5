"""Bulk decisions: `engine.evaluate_many` against the traced single-ticket rate, as ratios in one run.

On the same N deterministic tickets (benchmarks/_tickets.py), default bundle, fixed `now`:

(1) traced, one at a time:  `[engine.evaluate(t, now=FIXED_NOW) for t in tickets]` (the baseline)
(2) evaluate_many(trace=False), workers=1: in this process, no trace steps
(3) evaluate_many(trace=False), workers=2: two spawned worker processes, decisions sent back
    pickled, each record rebuilt here without validating it again (csrules._transport)
(4) evaluate_many(trace=True), workers=2: the same with full traces (~50 records per decision
    to send back and rebuild: the parent's share of the work)

Each is consumed to the end, dropping each result as it comes (a streaming consumer); wall time
includes starting the worker processes (each imports csrules and rebuilds the parent's Engine:
about half a second), so a larger --tickets shows the steady state better. In an untimed pass
before, every result of (2)-(4) is compared with (1): outcome, required role, fired rules,
actions and follow-ups equal, and for (4) the whole JSON. The four runs are timed --repeats
times, in a rotated order each time (a slow stretch of a shared machine does not always fall on
the same run); each run's figure is its median over the repeats, and the per-repeat ratios of
(2) to (1) show the spread. Rates are tickets per second; the ratio is against (1). Nothing is
asserted about speed.

Run:  .venv/bin/python benchmarks/bench_bulk.py [--tickets 6000] [--repeats 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import csrules
from _tickets import FIXED_NOW, generate_tickets


def summary(decision: Any) -> tuple[Any, ...]:
    """What trace=False keeps: everything but the trace's steps."""
    return (
        decision.outcome,
        decision.required_role,
        decision.reasons,
        decision.actions,
        decision.follow_ups,
        decision.trace.fired,
        decision.trace.derived,
    )


def timed(run: Callable[[], Iterable[Any]]) -> tuple[float, float]:
    """The seconds a run took and the seconds until its first result (worker start-up).

    Results are dropped as they come, as a streaming consumer (a replay writing a report) does:
    keeping thousands of decisions alive makes Python's cyclic garbage collector rescan them all,
    which would be timed too. The results are checked in a separate, untimed pass.
    """
    start = time.perf_counter()
    first = 0.0
    for count, _result in enumerate(run()):
        if not count:
            first = time.perf_counter() - start
    return time.perf_counter() - start, first


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=6000, help="tickets per run (default 6000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each run (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="ticket generator seed (default 1)")
    args = parser.parse_args()
    tickets = generate_tickets(args.tickets, args.seed)
    engine = csrules.load()
    for ticket in tickets[:300]:  # warm-up
        engine.evaluate(ticket, now=FIXED_NOW)

    runs: list[tuple[str, Callable[[], Iterable[Any]]]] = [
        (
            "(1) evaluate(), traced, one at a time",
            lambda: (engine.evaluate(t, now=FIXED_NOW) for t in tickets),
        ),
        (
            "(2) evaluate_many(trace=False), workers=1",
            lambda: engine.evaluate_many(tickets, now=FIXED_NOW, trace=False),
        ),
        (
            "(3) evaluate_many(trace=False), workers=2",
            lambda: engine.evaluate_many(tickets, now=FIXED_NOW, trace=False, workers=2),
        ),
        (
            "(4) evaluate_many(trace=True), workers=2",
            lambda: engine.evaluate_many(tickets, now=FIXED_NOW, trace=True, workers=2),
        ),
    ]
    reference = list(runs[0][1]())
    problems = 0
    for name, run in runs[1:]:
        for expected, result in zip(reference, run(), strict=True):
            same = (
                result.to_json() == expected.to_json()
                if name.startswith("(4)")
                else summary(result) == summary(expected)
            )
            problems += not same
    del reference
    passes: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in runs}
    for repeat in range(args.repeats):
        shift = repeat % len(runs)
        for name, run in runs[shift:] + runs[:shift]:  # rotated: (1) first, then (2) first...
            passes[name].append(timed(run))
    results = [
        (name, statistics.median(s for s, _ in timings), statistics.median(f for _, f in timings))
        for name, timings in passes.items()
    ]

    print(f"{len(tickets):,} tickets, default bundle, {os.cpu_count()} CPUs, {args.repeats} repeats")
    print(f"results of (2)-(4) that differ from (1): {problems}")
    first, second = passes[runs[0][0]], passes[runs[1][0]]
    spread = ", ".join(f"{a / b:.2f}x" for (a, _), (b, _) in zip(first, second, strict=True))
    print(f"(2) against (1), repeat by repeat: {spread}")
    base = len(tickets) / results[0][1]
    print(f"{'run (medians)':<44} {'seconds':>8} {'tickets/s':>10} {'vs (1)':>7} {'first result s':>15}")
    for name, seconds, first in results:
        rate = len(tickets) / seconds
        print(f"{name:<44} {seconds:>8.2f} {rate:>10,.0f} {rate / base:>6.2f}x {first:>15.2f}")
    print("(the first result of a run with workers waits for the worker processes to start)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
