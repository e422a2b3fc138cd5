"""`csrules coverage FILE.jsonl`: which rules and comparisons past decisions exercised."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..decision_log import read_decisions
from ..engine import load
from ..testing.coverage import Coverage
from ..testing.report import coverage_report
from ._common import ExitCode


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Tally the decisions (one JSON per line) against the bundle; exit 1 under `--fail-under`."""
    engine = load(args.policies)
    coverage = Coverage(engine.bundle)
    for path in args.decisions:
        coverage.add_all(read_decisions(path), engine.policy_digest)
    out.write(coverage_report(coverage) + "\n")
    if args.fail_under is not None:
        short = coverage.below(args.fail_under)
        if short:
            out.write("coverage too low: " + "; ".join(short) + "\n")
            return ExitCode.FAILED
    return ExitCode.OK
