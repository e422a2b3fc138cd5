"""Static analysis time (`csrules.analyze`, what `csrules check` runs) against load time.

Three shapes of bundles of N rules (the analysis compares every rule with every other):

skus        each rule tests `item.sku` against a K-value `in` list, a negated K-value `in` list,
            and its own amount floor (a stocking policy with long sku lists);
attributes  each rule tests a custom attribute (`attributes.sla: tier_i`) and adds a `call_back`
            follow-up due in i+1 hours: every pair is a candidate conflict the analysis must try
            to confirm, on facts it cannot write into an example ticket;
derived     amount bands for tickets that are not high-value (`derived.high_value: false`, the
            default bundle's shape), each with a request kind: rules that read a derived fact.

For each shape and N: the median of --repeats of `csrules.load(dir)` and of
`csrules.analyze(engine)`, and their ratio (the baseline is load, timed in the same run). Nothing
is asserted.

Run:  .venv/bin/python benchmarks/bench_check.py [--sizes 45,90,180] [--values 50]
      [--other-sizes 100,200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
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


def write_attribute_bundle(folder: Path, rules: int) -> None:
    lines = ["policy: service_levels", "description: Call-backs by service level.", "rules:"]
    for number in range(rules):
        lines += [
            f"  - id: sla_{number}",
            "    description: d",
            "    rationale: r",
            "    when:",
            f"      - attributes.sla: tier_{number}",
            "    then:",
            "      follow_ups:",
            "        - kind: call_back",
            f"          due_in: {{hours: {number + 1}}}",
        ]
    (folder / "service_levels.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_derived_bundle(folder: Path, rules: int) -> None:
    lines = [
        "policy: bands",
        "description: Amount bands for customers who are not high-value.",
        "derived:",
        "  high_value: {type: boolean, default: false, description: d}",
        "rules:",
        "  - id: high_value_customer",
        "    description: d",
        "    rationale: r",
        "    when:",
        "      any:",
        "        - customer.tier: {in: [loyal, advocate]}",
        "        - customer.lifetime_value: {gte: 1000}",
        "    then: {derive: {high_value: true}}",
    ]
    for number in range(rules):
        lines += [
            f"  - id: band_{number}",
            "    description: d",
            "    rationale: r",
            "    when:",
            "      - derived.high_value: false",
            f"      - request.amount: {{gt: {number * 10}, lte: {number * 10 + 10}}}",
            f"      - request.kind: {('refund', 'credit', 'replacement')[number % 3]}",
            "    then:",
            "      require_role: senior",
        ]
    (folder / "bands.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    parser.add_argument(
        "--other-sizes", default="100,200", help="rule counts of the attributes and derived shapes"
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shapes: list[tuple[str, str, Callable[[Path, int], None]]] = [
        ("skus", args.sizes, lambda folder, size: write_bundle(folder, size, args.values)),
        ("attributes", args.other_sizes, write_attribute_bundle),
        ("derived", args.other_sizes, write_derived_bundle),
    ]
    print(f"{'shape':>10} {'rules':>6} {'load s':>8} {'analyze s':>10} {'analyze/load':>13} {'warnings':>9}")
    for shape, sizes, write in shapes:
        for size in (int(text) for text in sizes.split(",")):
            with tempfile.TemporaryDirectory() as scratch:
                write(Path(scratch), size)
                load, analyze, found = measure(Path(scratch), args.repeats)
            print(f"{shape:>10} {size:>6} {load:>8.2f} {analyze:>10.2f} {analyze / load:>12.1f}x {found:>9}")


if __name__ == "__main__":
    main()
