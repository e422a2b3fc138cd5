"""`csrules test [PATH...]`: run policy case files (`*.cases.yaml`) and report each case."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..testing.cases import load_cases, run_cases
from ..testing.report import summary, table
from ._common import ExitCode, UsageError


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Exit 0 when every case passes, 1 when one fails; bad case files or policies are errors (2)."""
    cases = load_cases(args.paths or ["."])
    if not cases:
        raise UsageError("no policy cases found (files named *.cases.yaml)")
    results = run_cases(cases, args.policies)
    out.write(table(results) + "\n" + summary(results) + "\n")
    return ExitCode.OK if all(r.passed for r in results) else ExitCode.FAILED
