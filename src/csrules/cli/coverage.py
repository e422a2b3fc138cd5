"""`csrules coverage FILE.jsonl`: which rules and comparisons past decisions exercised."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..decision_log import read_decisions
from ..engine import load
from ..testing.coverage import Coverage
from ..testing.report import coverage_report
from ._common import ExitCode, UsageError


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Tally the decisions (one JSON per line) against the bundle; exit 1 under `--fail-under`."""
    engine = load(args.policies)
    coverage = Coverage(engine.bundle)
    for path in args.decisions:
        before = coverage.decisions
        coverage.add_all(read_decisions(path), engine.policy_digest)
        if coverage.decisions == before:  # a wrong or empty file must not pass a CI gate as "0%" or "100%"
            raise UsageError(f"{path}: no decision in the file")
    out.write(coverage_report(coverage) + "\n")
    if args.fail_under is not None:
        short = coverage.below(args.fail_under)
        if short:
            out.write("coverage too low: " + "; ".join(short) + "\n")
            return ExitCode.FAILED
    return ExitCode.OK
