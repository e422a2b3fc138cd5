"""`csrules test [PATH...]`: run policy case files (`*.cases.yaml`) and report each case."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..testing.cases import Engines, load_cases, run_cases
from ..testing.report import invariant_table, summary, table
from ._common import ExitCode, UsageError


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Run the cases, then the invariants of every bundle they ran on (with its own parameters).

    Exit 0 when every case passes and every invariant holds, 1 otherwise; bad case files or
    policies are errors (2). With `--policies` and no case files, only the invariants run.
    """
    cases = load_cases(args.paths or ["."])
    if not cases and not args.policies:
        raise UsageError("no policy cases found (files named *.cases.yaml)")
    engines = Engines(args.policies)
    results = run_cases(cases, engines=engines)
    checked = []
    if args.examples > 0:
        # Imported here: invariants need hypothesis (the `testing` extra); cases do not.
        from ..testing.invariants import check_invariants  # noqa: PLC0415

        for engine in engines.as_written():
            checked += check_invariants(engine, examples=args.examples, seed=args.seed)
    blocks = [text for text in (table(results), invariant_table(checked)) if text]
    out.write("\n".join([*blocks, summary(results, checked)]) + "\n")
    passed = all(r.passed for r in results) and all(r.passed for r in checked)
    return ExitCode.OK if passed else ExitCode.FAILED
