"""`csrules test [PATH...]`: run policy case files (`*.cases.yaml`) and report each case."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

from ..testing.cases import Engines, load_cases, run_cases
from ..testing.coverage import Coverage
from ..testing.report import coverage_report, invariant_table, summary, table
from ._common import ExitCode, UsageError

if TYPE_CHECKING:
    from ..testing.invariants import InvariantResult


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Run the cases, then the invariants of every bundle they ran on (with its own parameters).

    Exit 0 when every case passes and every invariant holds, 1 otherwise; bad case files or
    policies are errors (2). With `--policies` and no case files, only the invariants run.
    `--coverage` reports which rules and comparisons the cases and invariant runs exercised,
    against the first bundle tested; `--fail-under N` exits 1 when either measure is below N%.
    """
    cases = load_cases(args.paths or ["."])
    if not cases and not args.policies:
        raise UsageError("no policy cases found (files named *.cases.yaml)")
    engines = Engines(args.policies)
    results = run_cases(cases, engines=engines)
    if not cases and (args.examples == 0 or not any(e.bundle.invariants for e in engines.as_written())):
        # `0 passed, 0 failed` would read as a pass of a run that tested nothing
        why = (
            "--examples 0 skips the invariants" if args.examples == 0 else "the bundle declares no invariants"
        )
        raise UsageError(f"nothing to test: no policy cases found (files named *.cases.yaml), and {why}")
    measured = None
    if args.coverage or args.fail_under is not None:  # against the first bundle tested
        measured = (engines.as_written() or [engines.get(cases[0])])[0]
    coverage = Coverage(measured.bundle) if measured is not None else None
    elsewhere = 0  # decided cases on other bundles than the measured one
    if coverage is not None:
        # Only the cases on that bundle (with any `params`): another bundle's rules are not its.
        first = engines.bundle_of(cases[0]) if cases else None
        decided = [(r.case, r.decision) for r in results if r.decision is not None]
        ours = [decision for case, decision in decided if engines.bundle_of(case) == first]
        elsewhere = len(decided) - len(ours)
        coverage.add_all(ours)
    checked = []
    if args.examples > 0 and any(e.bundle.invariants for e in engines.as_written()):
        check_invariants = _invariant_checker()
        with _scratch_hypothesis_home():
            for engine in engines.as_written():
                observe = coverage.add if coverage is not None and engine is measured else None
                checked += check_invariants(engine, examples=args.examples, seed=args.seed, observe=observe)
    blocks = [text for text in (table(results), invariant_table(checked)) if text]
    if coverage is not None and args.coverage:
        blocks.append(coverage_report(coverage))
        if elsewhere:
            blocks.append(f"not counted: {elsewhere} decided case(s) on other policies than the first case's")
    out.write("\n".join([*blocks, summary(results, checked)]) + "\n")
    passed = all(r.passed for r in results) and all(r.passed for r in checked)
    if coverage is not None and args.fail_under is not None:
        short = coverage.below(args.fail_under)
        if short:
            out.write("coverage too low: " + "; ".join(short) + "\n")
            passed = False
    return ExitCode.OK if passed else ExitCode.FAILED


@contextlib.contextmanager
def _scratch_hypothesis_home() -> Iterator[None]:
    """hypothesis keeps a cache of the constants it draws from local modules in `./.hypothesis`
    (`invariants.py` keeps no example database): a command must leave no files in the directory
    it runs in, so the run gets a scratch home, removed after it. An explicit
    `HYPOTHESIS_STORAGE_DIRECTORY` is the user's choice and is kept."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    from hypothesis import configuration  # noqa: PLC0415 - the `testing` extra, checked by the caller

    before = configuration.storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="csrules-hypothesis-") as scratch:
        configuration.set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(before)


def _invariant_checker() -> Callable[..., list[InvariantResult]]:
    """`check_invariants`, imported here: invariants need hypothesis (the `testing` extra); cases,
    and every other command, do not."""
    try:
        from ..testing.invariants import check_invariants  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "hypothesis":
            raise
        raise UsageError(
            "checking the bundle's invariants needs hypothesis: pip install 'csrules[testing]' "
            "(or --examples 0 to run only the cases)"
        ) from None
    return check_invariants
