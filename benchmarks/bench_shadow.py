"""The cost of shadow mode: `ShadowEngine.evaluate` against a plain `Engine.evaluate`, one process.

Measured on the same N deterministic tickets (benchmarks/_tickets.py), `now=FIXED_NOW`:

(a) plain: `csrules.load()`, the default bundle (the baseline of the ratios).
(b) shadow, identical candidate: the default bundle shadowed by itself; no divergence is recorded,
    so this is the price of a second evaluation plus the comparison.
(c) shadow, `front_line_limit` 25: the candidate differs (via `shadow_params`), so a share of the
    tickets diverge and go to a `JsonLinesSink` in a temporary directory.
(d) as (c) with `sample=0.1`: one ticket id in ten is shadowed.

The implementations are interleaved per ticket (each ticket is decided by all four in turn, the
order rotated per ticket), each call timed with `perf_counter_ns`, so that load from other
processes on a shared machine hits all of them alike. The table shows, per implementation, the
median over repeats of each repeat's median and p99, their ratios to (a), and the median of the
per-ticket ratios to (a) (the paired figure, the least sensitive to noise).

Run:  .venv/bin/python benchmarks/bench_shadow.py [--tickets 2000] [--repeats 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import csrules
from _tickets import FIXED_NOW, generate_tickets, percentile

Call = Callable[[dict[str, Any]], object]


def time_interleaved(calls: list[Call], tickets: list[dict[str, Any]]) -> list[list[int]]:
    """Per-call nanoseconds, one list per call in ticket order; the calls rotated per ticket."""
    samples = [[0] * len(tickets) for _ in calls]
    clock = time.perf_counter_ns
    order = list(range(len(calls)))
    for index, ticket in enumerate(tickets):
        shift = index % len(calls)
        for which in order[shift:] + order[:shift]:
            before = clock()
            calls[which](ticket)
            samples[which][index] = clock() - before
    return samples


def caller(engine: csrules.Engine | csrules.ShadowEngine) -> Call:
    def call(ticket: dict[str, Any]) -> object:
        return engine.evaluate(ticket, now=FIXED_NOW)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=2000, help="tickets to generate (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="ticket generator seed (default 1)")
    args = parser.parse_args()

    tickets = generate_tickets(args.tickets, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        sink = csrules.JsonLinesSink(Path(tmp) / "divergences.jsonl")
        plain = csrules.load()
        raised = {"front_line_limit": 25}
        engines: list[tuple[str, csrules.Engine | csrules.ShadowEngine]] = [
            ("(a) plain Engine", plain),
            ("(b) shadow, identical candidate", csrules.load(shadow=csrules.default_policies(), sink=sink)),
            (
                "(c) shadow, limit 25, JsonLinesSink",
                csrules.load(shadow=csrules.default_policies(), shadow_params=raised, sink=sink),
            ),
            (
                "(d) as (c), sample 0.1",
                csrules.load(shadow=csrules.default_policies(), shadow_params=raised, sink=sink, sample=0.1),
            ),
        ]
        print(
            f"{args.tickets} tickets (seed {args.seed}), {args.repeats} repeats, now={FIXED_NOW.isoformat()}"
        )
        for _, engine in engines:  # warm-up, and a check that the live decisions are the plain ones
            for ticket in tickets[:300]:
                expected = plain.evaluate(ticket, now=FIXED_NOW).to_json()
                assert engine.evaluate(ticket, now=FIXED_NOW).to_json() == expected
        medians: dict[str, list[float]] = {name: [] for name, _ in engines}
        p99s: dict[str, list[float]] = {name: [] for name, _ in engines}
        paired: dict[str, list[float]] = {name: [] for name, _ in engines}
        calls = [caller(engine) for _, engine in engines]
        for _ in range(args.repeats):
            samples = time_interleaved(calls, tickets)
            for (name, _), timed in zip(engines, samples, strict=True):
                ordered = sorted(timed)
                medians[name].append(statistics.median(ordered) / 1000)
                p99s[name].append(percentile([float(s) for s in ordered], 0.99) / 1000)
                paired[name].extend(t / p for t, p in zip(timed, samples[0], strict=True))
        lines = (Path(tmp) / "divergences.jsonl").read_text(encoding="utf-8").count("\n")

    base_median = statistics.median(medians[engines[0][0]])
    base_p99 = statistics.median(p99s[engines[0][0]])
    header = (
        f"{'implementation':<38} {'median µs':>10} {'p99 µs':>10} {'median/(a)':>11} {'p99/(a)':>9}"
        f" {'paired/(a)':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, _ in engines:
        median = statistics.median(medians[name])
        p99 = statistics.median(p99s[name])
        ratio = statistics.median(paired[name])
        print(
            f"{name:<38} {median:>10.1f} {p99:>10.1f} {median / base_median:>10.2f}x"
            f" {p99 / base_p99:>8.2f}x {ratio:>10.2f}x"
        )
    print()
    for name, engine in engines[1:]:
        assert isinstance(engine, csrules.ShadowEngine)
        stats = engine.stats
        print(
            f"{name}: {stats.evaluations} evaluations, {stats.shadowed} shadowed, "
            f"{stats.divergences} divergences, {stats.shadow_failures} shadow failures, "
            f"{stats.sink_failures} sink failures"
        )
    print(f"JsonLinesSink lines written: {lines}")


if __name__ == "__main__":
    main()
