"""Memory and concurrency soak for `csrules.Engine.evaluate`.

Part 1 (memory): one Engine evaluates --evaluations tickets in a row, cycling through a pool of
--pool generated tickets (benchmarks/_tickets.py) plus a few that fire no rule of the bundle (no
request, category "other"). Resident memory (VmRSS from /proc/self/status) is sampled at start and
every 10%; the samples, the growth from the 10% sample to the end (MiB) and the growth rate are
printed, with the evaluation rate. Every decision's outcome, required role and fired rules are
compared with a reference taken before the run (drift).

Part 2 (concurrency): --threads threads, started together, each evaluate --per-thread tickets of
the pool against the one shared Engine and compare every `decision.to_json()` with the sequential
result for the same ticket (taken before part 1). The mismatch count and the throughput of the
same work (evaluate + to_json + compare) run sequentially and threaded are printed.

Exit status: 1 if any evaluation raised, drifted or mismatched; 0 otherwise. Nothing about time
or memory is asserted: figures are printed for a human to judge.

Run:  .venv/bin/python benchmarks/soak.py [--evaluations 20000] [--threads 8] [--per-thread 2000]
      (`make soak` runs --evaluations 1000000 --threads 16 --per-thread 20000)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import csrules
from _tickets import FIXED_NOW, generate_tickets, quiet_ticket


def rss_mib() -> float:
    """Resident set size of this process in MiB (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Tally:
    """Problems found by one worker."""

    errors: int = 0
    mismatches: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 3:
            self.examples.append(text)


def memory_soak(
    engine: csrules.Engine,
    pool: list[dict[str, Any]],
    summary: list[tuple[str, str, tuple[str, ...]]],
    evaluations: int,
) -> Tally:
    tally = Tally()
    marks = {max(1, evaluations * k // 10): k * 10 for k in range(1, 11)}
    samples: list[tuple[int, int, float, float]] = [(0, 0, rss_mib(), 0.0)]
    print(f"{'done':>5} {'evaluations':>12} {'RSS MiB':>9} {'elapsed s':>10} {'evals/s':>9}")
    print(f"{0:>4}% {0:>12,} {samples[0][2]:>9.1f} {0.0:>10.1f} {'':>9}")
    start = time.perf_counter()
    for count in range(1, evaluations + 1):
        index = (count - 1) % len(pool)
        try:
            decision = engine.evaluate(pool[index], now=FIXED_NOW)
            got = (decision.outcome, decision.required_role, tuple(decision.trace.fired))
            if got != summary[index]:
                tally.mismatches += 1
                tally.note(f"drift on {pool[index]['id']}: {got} != {summary[index]}")
        except Exception:
            tally.errors += 1
            tally.note(f"evaluation {count} ({pool[index]['id']}) raised:\n{traceback.format_exc()}")
        percent = marks.get(count)
        if percent is not None:
            elapsed = time.perf_counter() - start
            previous = samples[-1]
            rate = (count - previous[1]) / max(elapsed - previous[3], 1e-9)
            samples.append((percent, count, rss_mib(), elapsed))
            print(f"{percent:>4}% {count:>12,} {samples[-1][2]:>9.1f} {elapsed:>10.1f} {rate:>9,.0f}")
    elapsed = time.perf_counter() - start
    first = next(s for s in samples if s[0] == 10)
    last = samples[-1]
    growth = last[2] - first[2]
    span = last[1] - first[1]
    print(f"RSS growth from the 10% sample to the end: {growth:+.2f} MiB over {span:,} evaluations", end="")
    if span:
        print(f" ({growth * 1024 * 100_000 / span:+.1f} KiB per 100,000 evaluations)")
    else:
        print()
    print(f"RSS growth from start to the end: {last[2] - samples[0][2]:+.2f} MiB")
    print(f"rate: {evaluations / elapsed:,.0f} evaluations/s ({elapsed * 1e6 / evaluations:.0f} µs each)")
    print(f"errors: {tally.errors}, drift from the reference: {tally.mismatches}")
    return tally


def work(
    engine: csrules.Engine,
    pool: list[dict[str, Any]],
    reference: list[str],
    indices: list[int],
    tally: Tally,
) -> None:
    """Evaluate the pool tickets at `indices`; compare each decision's JSON with the reference."""
    for index in indices:
        try:
            text = engine.evaluate(pool[index], now=FIXED_NOW).to_json()
        except Exception:
            tally.errors += 1
            tally.note(f"{pool[index]['id']} raised:\n{traceback.format_exc()}")
            continue
        if text != reference[index]:
            tally.mismatches += 1
            tally.note(f"{pool[index]['id']}: decision JSON differs from the sequential one")


def concurrency_soak(
    engine: csrules.Engine,
    pool: list[dict[str, Any]],
    reference: list[str],
    *,
    threads: int,
    per_thread: int,
    sequential_cap: int,
) -> Tally:
    # Thread t starts at a different point of the pool, so threads decide different tickets at once.
    plans = [[(t * 37 + i) % len(pool) for i in range(per_thread)] for t in range(threads)]
    tallies = [Tally() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(number: int) -> None:
        barrier.wait()
        work(engine, pool, reference, plans[number], tallies[number])

    workers = [threading.Thread(target=run, args=(n,), name=f"soak-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    threaded_s = time.perf_counter() - start
    total = threads * per_thread

    sequential = [index for plan in plans for index in plan][: min(total, sequential_cap)]
    sequential_tally = Tally()
    start = time.perf_counter()
    work(engine, pool, reference, sequential, sequential_tally)
    sequential_s = time.perf_counter() - start

    tally = Tally()
    for one in [*tallies, sequential_tally]:
        tally.errors += one.errors
        tally.mismatches += one.mismatches
        for example in one.examples:
            tally.note(example)
    threaded_rate = total / threaded_s
    sequential_rate = len(sequential) / sequential_s
    print(f"{'run':<24} {'evaluations':>12} {'seconds':>9} {'evals/s':>9} {'vs sequential':>14}")
    print(
        f"{'sequential, 1 thread':<24} {len(sequential):>12,} {sequential_s:>9.1f} "
        f"{sequential_rate:>9,.0f} {1:>13.2f}x"
    )
    print(
        f"{f'threaded, {threads} threads':<24} {total:>12,} {threaded_s:>9.1f} {threaded_rate:>9,.0f} "
        f"{threaded_rate / sequential_rate:>13.2f}x"
    )
    print("(each evaluation: evaluate + decision.to_json() + compare with the sequential JSON)")
    print(f"mismatches: {tally.mismatches}, errors: {tally.errors}")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--evaluations", type=int, default=20_000, help="part 1 evaluations (default 20000)")
    parser.add_argument("--threads", type=int, default=8, help="part 2 threads (default 8)")
    parser.add_argument(
        "--per-thread", type=int, default=2000, help="part 2 evaluations per thread (default 2000)"
    )
    parser.add_argument(
        "--pool", type=int, default=300, help="distinct generated tickets to cycle (default 300)"
    )
    parser.add_argument("--seed", type=int, default=7, help="ticket generator seed (default 7)")
    parser.add_argument(
        "--sequential-cap",
        type=int,
        default=20_000,
        help="at most this many evaluations for the sequential throughput of part 2 (default 20000)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for part 2, e.g. 1e-5 to force more thread switches",
    )
    args = parser.parse_args()

    pool = generate_tickets(args.pool, args.seed) + [quiet_ticket(n) for n in range(5)]
    engine = csrules.load()
    print(f"pool: {len(pool)} tickets (seed {args.seed}), policy {engine.policy_digest[:12]}")
    decisions = [engine.evaluate(ticket, now=FIXED_NOW) for ticket in pool]
    reference = [decision.to_json() for decision in decisions]
    summary: list[tuple[str, str, tuple[str, ...]]] = [
        (d.outcome, d.required_role, tuple(d.trace.fired)) for d in decisions
    ]
    quiet = sum(1 for d in decisions if not d.trace.fired)
    print(f"tickets that fire no rule of the bundle: {quiet} of {len(pool)}")
    del decisions

    print(f"\n== part 1: {args.evaluations:,} evaluations in a row, one Engine")
    memory = memory_soak(engine, pool, summary, args.evaluations)

    print(f"\n== part 2: {args.threads} threads x {args.per_thread:,} evaluations, one shared Engine")
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
        print(f"switch interval: {sys.getswitchinterval()} s")
    threaded = concurrency_soak(
        engine,
        pool,
        reference,
        threads=args.threads,
        per_thread=args.per_thread,
        sequential_cap=args.sequential_cap,
    )

    for example in memory.examples + threaded.examples:
        print(f"\nexample problem: {example}")
    failed = memory.errors + memory.mismatches + threaded.errors + threaded.mismatches
    print(f"\nresult: {'FAIL' if failed else 'ok'} ({failed} problems)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
