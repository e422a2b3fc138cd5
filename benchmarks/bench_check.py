"""Static analysis time (`csrules.analyze`, what `csrules check` runs) against load time.

Bundles of N rules, each testing `item.sku` against a K-value `in` list, a negated K-value `in`
list, and its own amount floor (the shape of a stocking policy with long sku lists: the analysis
compares every rule with every other on the values they test). For each N: the median of
--repeats of `csrules.load(dir)` and of `csrules.analyze(engine)`, and their ratio (the baseline is
load, timed in the same run). Nothing is asserted.

Run:  .venv/bin/python benchmarks/bench_check.py [--sizes 45,90,180] [--values 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import csrules


def write_bundle(folder: Path, rules: int, values: int) -> None:
    """One file of `rules` rules on 400 skus, drawn with a fixed seed."""
    rng = random.Random(1)
    skus = [f"SKU-{i}" for i in range(400)]
    lines = ["policy: stocking", "description: Long sku lists.", "rules:"]
    for number in range(rules):
        tested, excluded = rng.sample(skus, values), rng.sample(skus, values)
        lines += [
            f"  - id: r{number}",
            "    description: d",
            "    rationale: r",
            "    when:",
            f"      - item.sku: {{in: [{', '.join(tested)}]}}",
            f"      - not: {{item.sku: {{in: [{', '.join(excluded)}]}}}}",
            f"      - request.amount: {{gt: {number}}}",
            "    then:",
            "      require_role: supervisor",
        ]
    (folder / "stocking.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(folder: Path, repeats: int) -> tuple[float, float, int]:
    """Median seconds of load and of analyze, and how many warnings analyze gave."""
    loads, analyses = [], []
    warnings: list[csrules.PolicyWarning] = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine = csrules.load(folder)
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        warnings = csrules.analyze(engine)
        analyses.append(time.perf_counter() - started)
        engine.close()
    return statistics.median(loads), statistics.median(analyses), len(warnings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="45,90,180", help="rule counts, comma-separated")
    parser.add_argument("--values", type=int, default=50, help="values in each `in` list")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'rules':>6} {'load s':>8} {'analyze s':>10} {'analyze/load':>13} {'warnings':>9}")
    for size in (int(text) for text in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            write_bundle(Path(scratch), size, args.values)
            load, analyze, found = measure(Path(scratch), args.repeats)
        print(f"{size:>6} {load:>8.2f} {analyze:>10.2f} {analyze / load:>12.1f}x {found:>9}")


if __name__ == "__main__":
    main()
