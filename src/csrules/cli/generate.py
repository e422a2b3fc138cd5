"""`csrules generate-tickets --count N --seed S [--output FILE]`: a synthetic ticket history.

One ticket per line in the ticket JSON form (`csrules eval`, docs/decisions.md), compact, keys in
the order of the ticket model; the same count and seed give the same bytes (csrules/generate.py).
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from ..generate import generate_tickets
from ._common import ExitCode, UsageError, write_file

__all__ = ["run"]


def _write(out: TextIO, count: int, seed: int) -> None:
    for ticket in generate_tickets(count, seed):
        out.write(json.dumps(ticket, ensure_ascii=False, separators=(",", ":")) + "\n")


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Write `--count` tickets to standard output or `--output`."""
    if args.count < 0:
        raise UsageError(f"--count expects 0 or more, got `{args.count}`")
    if args.output is None:
        _write(out, args.count, args.seed)
        return ExitCode.OK
    try:
        write_file(args.output, lambda handle: _write(handle, args.count, args.seed))
    except BrokenPipeError:  # a pipe's reader left (/dev/stdout | head): main says 141
        raise
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write the tickets: {exc.strerror or exc}") from None
    return ExitCode.OK
