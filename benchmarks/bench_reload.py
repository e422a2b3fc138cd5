"""Policy reloads in a long-running process: resident memory after N load/close cycles.

Two cases, each in a fresh process (so one does not inherit the other's registrations):

same       `csrules.load()` of the unchanged default bundle N times, each Engine used for one
           evaluation and closed. Every load has the same `policy_digest`, so the compiled
           durable_rules ruleset is registered once and reused.
distinct   `csrules.load(params={"front_line_limit": 20 + i/100})`: N bundles that differ only in
           one parameter value. Comparisons with parameters are sent as differences, so every one
           compiles to the same ruleset and reuses its registration (docs/performance.md).

Resident memory (VmRSS) is printed at the start (after one load and evaluation) and every 10%;
with the growth per cycle after the first 10% (warm-up). Nothing is asserted.

Run:  .venv/bin/python benchmarks/bench_reload.py [--cycles 1000] [--case same|distinct|both]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from decimal import Decimal

import csrules
from _tickets import FIXED_NOW, generate_tickets


def rss_mib() -> float:
    """Resident set size of this process in MiB (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_case(case: str, cycles: int) -> None:
    ticket = generate_tickets(1, seed=3)[0]

    def cycle(i: int) -> None:
        params = {"front_line_limit": Decimal(2000 + i) / 100} if case == "distinct" else None
        with csrules.load(params=params) as engine:
            engine.evaluate(ticket, now=FIXED_NOW)

    cycle(-1)
    start_rss = rss_mib()
    samples = [(0, start_rss)]
    started = time.perf_counter()
    for i in range(cycles):
        cycle(i)
        if (i + 1) % max(1, cycles // 10) == 0:
            samples.append((i + 1, rss_mib()))
    elapsed = time.perf_counter() - started
    print(f"== {case}: {cycles:,} load/close cycles ({elapsed / cycles * 1000:.1f} ms each)")
    print(f"{'cycles':>8} {'RSS MiB':>9}")
    for done, rss in samples:
        print(f"{done:>8,} {rss:>9.1f}")
    warm = samples[1] if len(samples) > 2 else samples[0]
    last = samples[-1]
    per_cycle = (last[1] - warm[1]) * 1024 / max(1, last[0] - warm[0])
    print(f"growth after {warm[0]:,} cycles: {last[1] - warm[1]:+.1f} MiB ({per_cycle:+.1f} KiB per cycle)")
    print(f"growth from the start: {last[1] - start_rss:+.1f} MiB\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=1000, help="load/close cycles per case (default 1000)")
    parser.add_argument("--case", choices=("same", "distinct", "both"), default="both")
    args = parser.parse_args()
    if args.case != "both":
        run_case(args.case, args.cycles)
        return 0
    for case in ("same", "distinct"):  # each in its own process: registrations last for the process
        command = [sys.executable, __file__, "--case", case, "--cycles", str(args.cycles)]
        subprocess.run(command, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
