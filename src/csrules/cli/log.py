"""`csrules log verify LOG` and `csrules log show LOG`: check and list a decision log."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TextIO

from ..decision_log import DecisionLog, verify_log
from ..errors import AuditError, one_line
from ..values import DATE_TEXT, datetime_text, field_text
from ._common import ExitCode, UsageError


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    # Read as tickets and `--now` are (values.datetime_text), or a date: its midnight in UTC. Not
    # a week date (`2026-W48`) or an offset with seconds, which `fromisoformat` also takes.
    moment = datetime_text(f"{text}T00:00:00Z" if DATE_TEXT.fullmatch(text) else text)
    if moment is None:
        raise UsageError(f"--since: expected an ISO 8601 date or datetime, got `{text}`")
    if moment.utcoffset() is None:  # as tickets and --now: no guess at the zone
        raise UsageError(
            f"--since needs a date, or a date and time with a UTC offset (e.g. `{text}Z`), got `{text}`"
        )
    return moment


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """verify: exit 0 when intact, 1 at the first problem (named by line). repair: exit 0 when the
    log can be appended to after it, 1 when it left tampering as it was. show: list records."""
    if args.log_command == "verify":
        try:
            result = verify_log(args.log, head=args.head)
        except ValueError as exc:  # a malformed --head: the caller's mistake, not the log's
            raise UsageError(f"--head: {exc}") from None
        if result.problem is not None and result.problem.code == "no-such-file":
            raise result.problem  # no log to speak of: bad input (exit 2), not a tampered log
        if result.problem is not None:
            # A torn last line is what a crash leaves (`log repair` mends it); anything else, no crash.
            label = "damaged" if result.problem.code == "torn-record" else "tampered"
            out.write(f"{label}: {result.problem}\n")
            out.write(f"{result.records} records verified before it\n")
            return ExitCode.FAILED
        out.write(f"ok: {result.records} records, head {result.head} (record {result.records})\n")
        out.writelines(f"note: {one_line(note)}\n" for note in result.notes)
        return ExitCode.OK
    if args.log_command == "repair":
        repaired = DecisionLog.repair(args.log)
        out.write(repaired.describe() + "\n")
        return ExitCode.OK if repaired.ok else ExitCode.FAILED
    since = _since(args.since)
    # The whole log is checked first (chain and head), so a broken one lists nothing: a script
    # reading the list never gets a partial one. (A second read; the listing checks links again.)
    problem = verify_log(args.log).problem
    if problem is not None and problem.code == "no-such-file":  # nothing `log verify` could say more of
        raise problem
    if problem is not None:
        raise AuditError(
            problem.code, f"{problem.message} (run `csrules log verify`)", problem.file, problem.line
        )
    try:
        for record in DecisionLog(args.log):
            decision = record.decision
            if args.ticket is not None and decision.ticket_id != args.ticket:
                continue
            if since is not None and decision.trace.evaluated_at < since:
                continue
            if args.format == "json":
                out.write(decision.to_json() + "\n")
                continue
            moment = decision.trace.evaluated_at.isoformat().replace("+00:00", "Z")
            # One line whatever the record holds: a log appended through the API may hold any text
            # in a decision's fields (its policy_digest included) and still verify.
            out.write(
                one_line(
                    f"{record.seq:>6}  {moment}  {field_text(decision.ticket_id)}  {decision.outcome}  "
                    f"{decision.required_role}  policy {decision.trace.policy_digest[:12]}"
                )
                + "\n"
            )
    except AuditError as error:
        raise AuditError(
            error.code, f"{error.message} (run `csrules log verify`)", error.file, error.line
        ) from None
    return ExitCode.OK
