"""`csrules check [PATH...]`: load policies and report every problem as `file:line:col: message`."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..engine import load
from ..errors import PolicyError
from ._common import ExitCode


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Exit 0 when the policies load, 1 with one line per problem when they do not."""
    try:
        engine = load(args.paths or None)
    except PolicyError as exc:
        for diagnostic in exc.diagnostics:
            out.write(f"{diagnostic}\n")
        count = len(exc.diagnostics)
        out.write(f"{count} problem{'s' if count != 1 else ''}\n")
        return ExitCode.FAILED
    bundle = engine.bundle
    out.write(
        f"ok: {len(bundle.rules)} rules in {len(bundle.files)} files, policy {engine.policy_digest[:12]}\n"
    )
    return ExitCode.OK
