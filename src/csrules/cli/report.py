"""`csrules report INPUT --html OUT.html`: the audit report of a decision, a decisions file or a log.

INPUT is recognised by its content: one JSON object with a `trace` is a decision; JSON Lines with a
record (`seq`, `hash`, `decision`) on any line, or beside a head file (`INPUT.head`), is a decision
log (its hash chain is checked with `verify_log`, so a tampered first line is reported on the
page, not refused); other JSON Lines are decisions, one per line. Each decision shown is replayed
against the policies (`verify`) unless `--no-verify`. The page says what failed; the command exits 0
once it is written. INPUT is read a line at a time (`_Source`): memory holds the decisions shown.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..decision import Decision
from ..decision_log import LogReport, decision_text, head_file, verify_log
from ..engine import load
from ..errors import AuditError, one_line
from ..report_html import render_html
from ..source import (
    DuplicateKeyError,
    TooLarge,
    blank_line,
    limit_text,
    limited_lines,
    read_limited,
    unique_keys,
)
from ..verify import Verification, parse_decision, verify
from ._common import ExitCode, UsageError, write_file

_BOM = "\ufeff"


class _Source:
    """INPUT's lines, as (number, text without its "\\n"), each time `lines()` is called.

    A regular file is read a line at a time, each time: a log of any size is reported on in the
    memory of the decisions shown, and a line is at most MAX_JSON_BYTES. Anything else (a pipe,
    `/dev/stdin`) can be read once only: it is read whole then, at most MAX_JSON_BYTES in all.
    Lines end at "\\n" only: `splitlines()` also splits at U+2028, U+0085..., which a decision's
    text may hold (JSON is written with ensure_ascii=False); a "\\r" stays JSON's whitespace.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._kept: list[str] | None = None
        try:
            self.regular = stat.S_ISREG(os.stat(path).st_mode)
            if not self.regular:
                self._kept = self._read_whole().split("\n")
        except OSError as exc:
            raise AuditError("no-such-file", f"cannot read the input: {exc.strerror}", path) from None
        except TooLarge:
            message = (
                f"the input is larger than {limit_text()}, the most a report reads from a pipe or a device"
            )
            raise AuditError("invalid-decision", message, path) from None

    def _read_whole(self) -> str:
        try:
            with open(self.path, "rb") as handle:
                return read_limited(handle).decode("utf-8").removeprefix(_BOM)
        except OSError as exc:
            raise AuditError("no-such-file", f"cannot read the input: {exc.strerror}", self.path) from None
        except UnicodeDecodeError:
            raise AuditError("invalid-decision", "not UTF-8 text", self.path) from None

    def whole(self) -> str | None:
        """The input as one text (one decision written over several lines); None when it is
        larger than MAX_JSON_BYTES, as no decision is."""
        if self._kept is not None:
            return "\n".join(self._kept)
        try:
            return self._read_whole()
        except TooLarge:
            return None

    def lines(self) -> Iterator[tuple[int, str]]:
        if self._kept is not None:
            yield from enumerate(self._kept, 1)
            return
        try:
            with open(self.path, "rb") as handle:
                for number, raw in enumerate(limited_lines(handle), 1):
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise AuditError("invalid-decision", "not UTF-8 text", self.path, number) from None
                    yield number, (text.removeprefix(_BOM) if number == 1 else text).removesuffix("\n")
        except OSError as exc:
            raise AuditError("no-such-file", f"cannot read the input: {exc.strerror}", self.path) from None
        except TooLarge as exc:
            raise AuditError("invalid-decision", f"not a decision: {exc}", self.path, exc.line) from None


def _json(line: str) -> Any:
    """A line's JSON value; None when it is not JSON (or not one JSON value)."""
    try:
        return json.loads(line, object_pairs_hook=unique_keys)
    except (ValueError, RecursionError):  # DuplicateKeyError is a ValueError
        return None


def _is_record(data: Any) -> bool:
    return isinstance(data, Mapping) and "seq" in data and "hash" in data and "decision" in data


class _Input:
    """The decisions of INPUT as (label, decision JSON) pairs, read lazily, and what kind of file
    it is."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.notes: list[str] = []
        self._source = _Source(path)
        self.regular = self._source.regular
        self.upto: int | None = None  # a log's records after this seq were not checked: not shown
        self.later = 0
        head = os.path.exists(head_file(path))  # False, not an error, for a name too long for `.head`
        first, lines, records = None, 0, False
        for number, line in self._source.lines():  # a first pass, keeping nothing
            if blank_line(line):
                continue
            lines += 1
            first = first or (number, line)
            # A record as csrules writes it holds these keys; one edited may spell them with
            # escapes (`"s\\u0065q"`). Other lines need not be parsed.
            maybe = ('"seq"' in line and '"hash"' in line) or "\\" in line
            if not head and maybe and _is_record(_json(line)):
                records = True
            if (head or records) and lines > 1:
                break
        if first is None:
            raise AuditError("invalid-decision", "the file is empty", path)
        # The whole input is one JSON value when its one line is, or (written over several lines)
        # when its first line is not JSON by itself.
        whole: Any = None
        twice: DuplicateKeyError | None = None
        first_value = _json(first[1])
        text = first[1] if lines == 1 else None
        if first_value is None and not head and not records and first[1].lstrip().startswith("{"):
            text = self._source.whole()  # a decision written over several lines, at most 256 MiB
        text = text.strip() if text else None  # `str.strip`: a form feed or U+00A0 after it too
        if text:
            try:
                whole = json.loads(text, object_pairs_hook=unique_keys)  # a key twice: refused
            except DuplicateKeyError as exc:
                twice = exc
            except (ValueError, RecursionError):  # ValueError: also an int of more than 4,300 digits
                pass  # JSON Lines, or not JSON at all: the lines tell
        if isinstance(whole, Mapping) and not _is_record(whole):
            parse_decision(whole, path)  # names the first wrong field when it is no decision
            self.kind = "decision"
            self.entries: Iterable[tuple[str, Any, str | None]] = [("", whole, text)]
            return
        if head or records:
            self.kind = "log"
        else:
            if first_value is None:
                if twice is not None:  # one decision, with a key given twice
                    raise AuditError("invalid-decision", f"not a decision ({twice})", path) from None
                raise AuditError("invalid-decision", "neither a decision nor JSON Lines", path, first[0])
            self.kind = "decisions"
        self.entries = self._entries()

    def _entries(self) -> Iterator[tuple[str, Any, str | None]]:
        """(label, the decision's JSON value, the line it is on) per decision (`_written`)."""
        for number, line in self._source.lines():
            if blank_line(line):
                continue
            try:
                data = json.loads(line, object_pairs_hook=unique_keys)
            except (ValueError, RecursionError):
                if self.kind != "log":
                    raise AuditError("invalid-decision", "not JSON", self.path, number) from None
                self.notes.append(f"line {number} is not JSON and is not shown")
                continue
            if self.kind == "log":
                if not _is_record(data):
                    self.notes.append(f"line {number} is not a log record and is not shown")
                    continue
                if self.upto is not None and type(data["seq"]) is int and data["seq"] > self.upto:
                    self.later += 1  # appended after the log was checked
                    continue
                yield f"record {data['seq']}, line {number}", data["decision"], line
            else:
                yield f"line {number}", data, line


def _select(source: _Input, ticket: str | None, limit: int) -> tuple[list[tuple[str, Decision, Any]], int]:
    """The first `limit` decisions (of `ticket` only, if given), each with what to replay (its
    JSON text as written, which `verify` compares number for number, or its value), and how many
    more there are.

    Every line of a decisions file is read as a decision, shown or not: a line that is none is
    refused whatever `--limit` and `--ticket` say, and is never counted as a decision not shown.
    A log's records are read as decisions when shown only: each was one when appended, and the
    hash chain (`verify_log`) says whether it is still the record written."""
    chosen: list[tuple[str, Decision, Any]] = []
    omitted = 0
    for label, data, text in source.entries:
        wanted = ticket is None or (isinstance(data, Mapping) and data.get("ticket_id") == ticket)
        shown = wanted and len(chosen) < limit
        if not shown and source.kind == "log":  # read as a decision only when shown (docstring)
            if wanted:
                omitted += 1
            continue
        written = _written(source, data, text)
        try:
            if not isinstance(data, Mapping):  # a JSON string holding a decision is not one
                raise AuditError("invalid-decision", "not a decision: input should be an object", source.path)
            decision = parse_decision(written, source.path)
        except AuditError as error:
            if source.kind != "log":
                raise AuditError("invalid-decision", error.message, source.path, _line(label)) from None
            source.notes.append(f"{label}: {error.message}; not shown")
            continue
        if shown:
            chosen.append((label, decision, written))
        elif wanted:
            omitted += 1
    return chosen, omitted


def _written(source: _Input, data: Any, text: str | None) -> Any:
    """What to replay a chosen decision from: its JSON text as written (a log record's decision
    text, when it reads as the record's decision: not `"decision":{...},"x":1,`), else its value.
    Worked out for the decisions shown only: a log's other records cost no second parse."""
    if source.kind == "log" and text is not None:
        text = decision_text(text)
        if text is not None and _json(text) != data:
            text = None
    return text if text is not None else data


def _line(label: str) -> int | None:
    return int(label.rsplit(" ", 1)[-1]) if label else None


def _not_an_input(html: str, source: str) -> None:
    """Refuse an --html path that is the input or, for a log, its head file: the report would
    replace the records it reports on (a hash-chained log turned into a page)."""
    target = os.path.realpath(html)
    for path in (source, str(head_file(source))):
        if target == os.path.realpath(path) or _same_file(html, path):
            raise UsageError(f"--html: `{html}` is {'the input' if path == source else 'the input log head'}")


def _same_file(first: str, second: str) -> bool:
    """Whether both paths name one existing file (a hard link too)."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # either does not exist, or cannot be read: not the same file
        return False


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Write the HTML report; exit 0 once written, whatever the verification found."""
    if args.limit < 1:
        raise UsageError(f"--limit: expected a positive number, got {args.limit}")
    _not_an_input(args.html, args.input)
    source = _Input(args.input)
    if source.kind == "log" and not source.regular:  # verify_log would read the pipe again: empty
        raise UsageError(
            f"{args.input}: a decision log is reported on from its file, where its hash chain and head "
            "file are checked, not from a pipe or a device"
        )
    log_status: LogReport | None = verify_log(args.input) if source.kind == "log" else None
    if log_status is not None and log_status.ok:
        source.upto = log_status.records  # records appended since were not checked
    chosen, omitted = _select(source, args.ticket, args.limit)
    if source.later:
        source.notes.append(f"{source.later} record(s) appended after the log was checked are not shown")
    verifications: list[Verification | None]
    if args.no_verify:
        verifications = [None] * len(chosen)
        source.notes.append("decisions not replayed (--no-verify)")
    else:
        engine = load(args.policies)
        # The record as written: read back as a Decision, `1.5e1` is 15.0 and an edit replays.
        verifications = [verify(engine, written) for _, _, written in chosen]
    if args.ticket is not None:
        source.notes.insert(0, f"only ticket {args.ticket}")
    page = render_html(
        [
            (decision, verification)
            for (_, decision, _), verification in zip(chosen, verifications, strict=True)
        ],
        title=f"Audit report: {Path(args.input).name}",
        source=args.input,
        log_status=log_status,
        labels=[label for label, _, _ in chosen],
        omitted=omitted,
        notes=source.notes,
    )
    try:
        write_file(args.html, lambda handle: handle.write(page))
    except BrokenPipeError:  # a pipe's reader left (/dev/stdout | head): main says 141
        raise
    except OSError as exc:
        raise UsageError(f"--html: cannot write `{args.html}`: {exc.strerror}") from None
    failed = sum(1 for v in verifications if v is not None and not v.ok)
    summary = f"wrote {args.html}: {len(chosen)} decision(s)"
    if omitted:
        summary += f", {omitted} more not shown"
    if not args.no_verify:
        summary += f", {failed} not replayed identically"
    if log_status is not None:
        summary += ", log intact" if log_status.ok else f", log tampered: {log_status.problem}"
        summary += "".join(f" (note: {one_line(note)})" for note in log_status.notes)
    out.write(one_line(summary) + "\n")  # the --html path and a problem quoting a record's text
    return ExitCode.OK
