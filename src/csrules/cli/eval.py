"""`csrules eval TICKET.json`: decide one ticket and print the explanation or the Decision JSON."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from ..engine import load
from ..errors import Error, TicketError
from ..explain import explain
from ..load import parse_value
from ..render import pretty_json
from ..source import TooLarge, exact_float, json_problem, no_constant, read_limited, unique_keys
from ..values import DATE_TEXT, YEARS, datetime_text, in_utc
from ._common import ExitCode, UsageError


def parse_params(items: list[str], flag: str = "--param") -> dict[str, Any]:
    """`NAME=VALUE` pairs given with `flag`; values read like scalars in policy files (`35` is a
    number, `yes` text)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise UsageError(f"{flag} expects NAME=VALUE, got `{item}`")
        try:
            params[name] = parse_value(raw)
        except ValueError as exc:
            raise UsageError(f"{flag} {name}: {exc}") from None
    return params


def parse_now(text: str | None) -> datetime | None:
    """The --now argument as an aware datetime."""
    if text is None:
        return None
    example = f"{text}T00:00:00Z" if DATE_TEXT.fullmatch(text) else "2026-11-23T15:00:00Z"
    expected = f"--now expects an ISO 8601 date and time with a UTC offset (e.g. `{example}`), got `{text}`"
    moment = datetime_text(text)  # as tickets write them: not a week date or a bare date
    if moment is None:
        raise UsageError(expected)
    if moment.utcoffset() is None:
        raise UsageError(f"--now needs a UTC offset (e.g. `{text}Z`), got `{text}`")
    utc = in_utc(moment)
    if utc is None:
        raise UsageError(f"--now must be between {YEARS}, got `{text}`")
    return utc


def read_ticket(source: str) -> object:
    """The ticket JSON from a file or standard input."""
    try:
        if source == "-" and sys.stdin is None:  # `<&-`
            raise UsageError("-: standard input is closed")
        # Standard input is read as a file is: UTF-8 whatever the locale or PYTHONIOENCODING say
        # (the same ticket must give the same decision), a byte order mark taken off.
        # At most MAX_JSON_BYTES: `/dev/zero` or a 3 GB file is refused, not read into memory.
        if source == "-":
            raw = getattr(sys.stdin, "buffer", None)  # None: a text stream put in its place
            text = (
                read_limited(raw).decode("utf-8-sig")
                if raw is not None
                else read_limited(sys.stdin).removeprefix("\ufeff")
            )
        else:
            with open(source, "rb") as handle:
                text = read_limited(handle).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError, TooLarge) as exc:
        raise UsageError(
            f"{source}: cannot read the ticket: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        return json.loads(
            text, object_pairs_hook=unique_keys, parse_float=exact_float, parse_constant=no_constant
        )
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits, deep nesting
        raise UsageError(f"{source}: invalid JSON: {json_problem(exc)}") from None


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Evaluate the ticket; errors propagate to main.py as csrules.Error."""
    now = parse_now(args.now)  # the arguments before any file (docs/errors.md)
    params = parse_params(args.param)
    engine = load(args.policies, params=params)
    ticket = read_ticket(args.ticket)
    try:
        decision = engine.evaluate(ticket, now=now)  # type: ignore[arg-type]
    except TicketError as exc:
        raise _InTicket(args.ticket, exc) from None
    if args.format == "json":
        out.write(pretty_json(decision) + "\n")
    elif args.format == "jsonl":  # one line, canonical: `>> decisions.jsonl` for `csrules coverage`
        out.write(decision.to_json() + "\n")
    else:
        out.write(explain(decision, steps="all" if args.all else "fired") + "\n")
    return ExitCode.OK


class _InTicket(Error):
    def __init__(self, source: str, error: TicketError) -> None:
        super().__init__(f"{source}: {error}")
