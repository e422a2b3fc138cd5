"""`csrules verify DECISION.json [--policies PATH]`: replay a recorded decision and compare."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from ..engine import Engine, load
from ..errors import AuditError, one_line
from ..explain import format_value
from ..impact import param_changes
from ..source import TooLarge, read_limited
from ..verify import Verification, parse_decision, verify
from ._common import ExitCode


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:  # at most MAX_JSON_BYTES: /dev/zero is no decision
            return read_limited(handle).decode("utf-8-sig")
    except OSError as exc:
        raise AuditError("no-such-file", f"cannot read the decision: {exc.strerror}", path) from None
    except UnicodeDecodeError:
        raise AuditError("invalid-decision", "not UTF-8 text", path) from None
    except TooLarge as exc:
        raise AuditError("invalid-decision", f"not a decision: {exc}", path) from None


def report(verification: Verification) -> str:
    """The summary line, each difference, then the notes: each one line (values of the record's
    may hold line breaks or bidirectional controls, written out)."""
    lines = [verification.summary()]
    lines += [f"  {one_line(str(difference))}" for difference in verification.differences]
    lines += [f"  note: {one_line(note)}" for note in verification.notes]
    return "\n".join(lines)


def _with_override_notes(verification: Verification, replayed: Engine) -> Verification:
    """Name each recorded parameter value the policy files do not give (their declared defaults):
    `identical` under the recorded values says the rules are the same, not that the values were
    the files' own."""
    defaults = {name: p.default for name, p in replayed.bundle.parameters.items()}
    notes = [
        f"parameter {change.name}: recorded {format_value(change.new)}, "
        f"the policy files give {format_value(change.old)}"
        for change in param_changes(defaults, replayed.params)
    ]
    if not notes:
        return verification
    return dataclasses.replace(verification, notes=verification.notes + tuple(notes))


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Exit 0 when the decision replays identically, 1 when it differs or the policies changed.

    The policies are loaded as they are: "would they decide the same today?". With
    `--recorded-params` they are loaded with the decision's recorded parameter values instead
    ("are the rules the same?"), for decisions made with overrides; a recorded parameter the
    policies no longer declare is then an error (exit 2).
    """
    text = _read(args.decision)
    decision = parse_decision(text, args.decision)
    params = dict(decision.trace.params) if args.recorded_params else None
    engine = load(args.policies, params=params)
    verification = verify(engine, text)  # the values as written, not as read back
    if params is not None:
        verification = _with_override_notes(verification, engine)
    if args.format == "json":
        out.write(verification.to_json() + "\n")
    else:
        out.write(report(verification) + "\n")
    return ExitCode.OK if verification.ok else ExitCode.FAILED
