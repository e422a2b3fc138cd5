"""`csrules` entry point: arguments, exit codes, and the one place that turns errors into lines.

Exit codes are `_common.ExitCode`: 0 ok, 1 a check found problems, 2 bad input (a ticket, a
policy, an argument), 3 an internal error. Bad input never prints a traceback. Ended by a signal, it
exits as a shell reports one: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP, after the
same cleanup as an error (no temporary file or directory left).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import os
import signal
import sys
import typing
from collections.abc import Sequence

from .._version import __version__
from ..errors import EngineError, Error, one_line
from . import check, coverage, diff, eval, generate, log, report, schema, test, verify
from ._common import ExitCode, FullWrites


class _Parser(argparse.ArgumentParser):
    """argparse, with an argument error as one line and exit 2 (argparse's own prints the usage
    first). Subcommands' parsers are of the same class."""

    def error(self, message: str) -> typing.NoReturn:
        _stderr(f"csrules: error: {one_line(message)} (see `{self.prog} --help`)")
        raise SystemExit(ExitCode.BAD_INPUT)

    def parse_args(self, args: Sequence[str] | None = None, namespace: typing.Any = None) -> typing.Any:  # type: ignore[override]
        """As argparse's, but an argument no command knows is reported by the command given
        (`see csrules eval --help`), not by the top level."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self._chosen(parsed).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def _chosen(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The (sub)command parser `parsed` went through, deepest first."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, _Parser):
                    return chosen._chosen(parsed)
        return self


def _stderr(line: str) -> None:
    """A line on standard error, if there is one (`print(file=None)` would write to stdout)."""
    if sys.stderr is not None:
        print(line, file=sys.stderr)


class _OutputFailed(Exception):
    """Writing to standard output failed (a full disk, a closed descriptor): not csrules' bug."""


class _Output:
    """Standard output for the commands: a failed write is `_OutputFailed`, a reader that left is
    BrokenPipeError as it was."""

    def __init__(self, stream: typing.TextIO | None) -> None:
        self._stream = stream  # None: the shell closed it (`>&-`), an error only if written to
        # Written through FullWrites when it is a file descriptor's (see why there); a stream
        # with none (a test's capture) is written to as it is.
        self._writer: typing.TextIO | FullWrites | None = stream
        if isinstance(stream, io.TextIOWrapper):
            try:
                descriptor = stream.fileno()
            except (OSError, ValueError):  # io.UnsupportedOperation is both
                descriptor = -1
            if descriptor >= 0:
                with contextlib.suppress(OSError, ValueError):  # reported, if at all, by our writes
                    stream.flush()  # anything written before goes first
                lines, each = stream.line_buffering, stream.write_through  # a terminal; `python -u`
                errors = stream.errors or "strict"
                self._writer = FullWrites(descriptor, stream.encoding, errors, lines=lines, each=each)

    def write(self, text: str) -> int:
        if self._writer is None:
            raise _OutputFailed("standard output is closed")
        try:
            return self._writer.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputFailed(exc.strerror or str(exc)) from None

    def writelines(self, lines: typing.Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputFailed(exc.strerror or str(exc)) from None

    def flush_before_error(self) -> None:
        """What the command wrote before its error, as Python's own flush at exit wrote it; a
        failure of that write is left unsaid (the error is the message)."""
        with contextlib.suppress(Exception):
            self.flush()

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()


def _silence_stdout() -> None:
    """Point standard output at /dev/null: Python flushes it again at exit and would report the
    same failure as a traceback-like "Exception ignored" message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no descriptor to point anywhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _at_least_0(text: str) -> int:
    """An argument count: a negative one skipped the invariants silently."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more, got `{text}`")
    return value


def _path(text: str) -> str:
    """A file argument: an empty one is `.` to the system, reported as "Is a directory"."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _percent(text: str) -> float:
    """A share in %: `nan` never failed, `101` always did."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 100, got `{text}`") from None
    if not 0 <= value <= 100:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 100, got `{text}`")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="csrules", description="Decide customer-service escalations.")
    parser.add_argument("--version", action="version", version=f"csrules {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    evaluate = commands.add_parser("eval", help="evaluate a ticket and explain the decision")
    evaluate.add_argument("ticket", type=_path, help="a ticket as a JSON file ('-' for standard input)")
    evaluate.add_argument(
        "--policies",
        action="append",
        help="policy directory or file (repeatable; default: the bundled policies)",
    )
    evaluate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (repeatable)",
    )
    evaluate.add_argument("--now", help="evaluation time, ISO 8601 with a UTC offset (default: now)")
    evaluate.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="text; json: the decision, indented; jsonl: on one line (to append to a JSON Lines file)",
    )
    evaluate.add_argument("--all", action="store_true", help="text: show every comparison of every rule")

    cases = commands.add_parser("test", help="run policy test cases (*.cases.yaml)")
    cases.add_argument("paths", nargs="*", help="case files or directories (default: the current directory)")
    cases.add_argument("--policies", action="append", help="policies to test instead of each case file's own")
    cases.add_argument(
        "--examples",
        type=_at_least_0,
        default=200,
        metavar="N",
        help="tickets drawn per invariant (default: 200; 0 skips the invariants)",
    )
    cases.add_argument(
        "--seed", type=_at_least_0, default=0, help="seed of the invariant search, 0 or more (default: 0)"
    )
    cases.add_argument("--coverage", action="store_true", help="report rule and condition coverage")
    cases.add_argument(
        "--fail-under", type=_percent, metavar="N", help="exit 1 when rule or condition coverage is below N%%"
    )

    tally = commands.add_parser("coverage", help="rule and condition coverage of past decisions (JSON Lines)")
    tally.add_argument(
        "decisions", nargs="+", type=_path, help="files of decisions, one JSON object per line"
    )
    tally.add_argument(
        "--policies", action="append", help="the bundle to measure (default: the bundled policies)"
    )
    tally.add_argument("--fail-under", type=_percent, metavar="N", help="exit 1 when a measure is below N%%")

    check = commands.add_parser("check", help="validate policy files")
    check.add_argument(
        "paths", nargs="*", type=_path, help="policy directories or files (default: the bundled policies)"
    )
    check.add_argument("--strict", action="store_true", help="exit 1 when the analysis finds any warning")
    check.add_argument("--format", choices=("text", "json"), default="text")

    schemas = commands.add_parser(
        "schema", help="print the JSON Schema of policy files, tickets or decisions"
    )
    schemas.add_argument("name", choices=sorted(schema.GENERATORS), help="which schema")
    schemas.add_argument("--output", type=_path, metavar="FILE", help="write the schema to FILE instead")
    schemas.add_argument(
        "--generate", action="store_true", help="generate from the models instead of the shipped file"
    )
    replay = commands.add_parser("verify", help="replay a recorded decision and report any difference")
    replay.add_argument(
        "decision", type=_path, help="a Decision JSON file (as `csrules eval --format json` writes)"
    )
    replay.add_argument(
        "--policies", action="append", help="the policies to replay with (default: the bundled policies)"
    )
    replay.add_argument(
        "--recorded-params",
        action="store_true",
        help="load the policies with the decision's parameter values",
    )
    replay.add_argument("--format", choices=("text", "json"), default="text")

    journal = commands.add_parser("log", help="check or list a decision log")
    actions = journal.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    checked = actions.add_parser("verify", help="check the hash chain; report the first bad record")
    checked.add_argument("log", type=_path, help="the log file")
    checked.add_argument(
        "--head",
        help="a head hash kept elsewhere: the log must still hold that record (it may have grown since)",
    )
    shown = actions.add_parser("show", help="list the decisions of a log")
    shown.add_argument("log", type=_path, help="the log file")
    shown.add_argument("--ticket", help="only this ticket id")
    shown.add_argument("--since", help="only decisions evaluated at or after this ISO 8601 time")
    shown.add_argument("--format", choices=("text", "json"), default="text")
    repair = actions.add_parser("repair", help="cut a torn last record off the log")
    repair.add_argument("log", type=_path, help="the log file")
    _diff_parser(commands)
    _report_parser(commands)
    return parser


def _diff_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """`diff` and `generate-tickets` (docs/impact.md)."""
    impact = commands.add_parser("diff", help="which decisions a policy change changes, over a ticket corpus")
    impact.add_argument("old", type=_path, help="the current policies: a directory, a file, or git:REV:path")
    impact.add_argument("new", type=_path, help="the changed policies: a directory, a file, or git:REV:path")
    impact.add_argument(
        "--tickets", type=_path, required=True, metavar="FILE.jsonl", help="one ticket per line ('-': stdin)"
    )
    for flag, whose in (("--param", "both"), ("--old-param", "the old"), ("--new-param", "the new")):
        impact.add_argument(
            flag,
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"override a parameter of {whose} policies",
        )
    impact.add_argument(
        "--now", help="evaluation time of lines without their own (default: 2026-01-01T00:00:00Z)"
    )
    impact.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    impact.add_argument(
        "--examples", type=int, default=3, metavar="K", help="examples per transition (default: 3)"
    )
    impact.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when any decision changed or a ticket is decided under one side only",
    )
    impact.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes (default: 1; 0: one per core)"
    )
    tickets = commands.add_parser("generate-tickets", help="write a synthetic ticket history (JSON Lines)")
    tickets.add_argument(
        "--count", type=int, default=1000, metavar="N", help="how many tickets (default: 1000)"
    )
    tickets.add_argument(  # >= 0: Python's random takes -1 for 1
        "--seed", type=_at_least_0, default=0, help="the same seed gives the same tickets (default: 0)"
    )
    tickets.add_argument(
        "--output", type=_path, metavar="FILE", help="write to FILE instead of standard output"
    )


def _report_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """`report` (docs/audit_report.md)."""
    page = commands.add_parser("report", help="write an HTML audit report of a decision or a decision log")
    page.add_argument(
        "input", type=_path, help="a Decision JSON file, a decision log, or decisions as JSON Lines"
    )
    page.add_argument("--html", type=_path, required=True, metavar="OUT.html", help="where to write the page")
    page.add_argument(
        "--policies", action="append", help="the policies to replay with (default: the bundled policies)"
    )
    page.add_argument("--no-verify", action="store_true", help="do not replay the decisions")
    page.add_argument("--ticket", help="only the decisions of this ticket id")
    page.add_argument(
        "--limit", type=int, default=200, metavar="N", help="show at most N decisions (default: 200)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an argument error (`_Parser.error`)
        code = exc.code if isinstance(exc.code, int) else ExitCode.BAD_INPUT
        return ExitCode.BAD_INPUT if code == 2 else int(code)
    out = _Output(sys.stdout)
    try:
        commands = {"eval": eval, "check": check, "test": test, "schema": schema, "coverage": coverage}
        commands |= {"verify": verify, "log": log, "report": report}
        commands |= {"diff": diff, "generate-tickets": generate}
        command = commands[args.command]
        code = int(command.run(args, out))
        out.flush()  # here, where a failure is reported, not at exit
        return code
    except EngineError as exc:  # not bad input: csrules could not get a trustworthy answer
        _ended()
        out.flush_before_error()
        _stderr(f"csrules: engine error: {one_line(str(exc))}")
        return ExitCode.INTERNAL
    except Error as exc:
        _ended()
        out.flush_before_error()
        _stderr(f"csrules: error: {one_line(str(exc))}")
        return ExitCode.BAD_INPUT
    except _OutputFailed as exc:  # `> /dev/full`
        _silence_stdout()
        _stderr(f"csrules: error: cannot write the output: {one_line(str(exc))}")
        return ExitCode.BAD_INPUT
    except KeyboardInterrupt:
        out.flush_before_error()
        return 130
    except BrokenPipeError:  # `csrules generate-tickets | head`: the reader left, nothing is wrong
        _silence_stdout()
        return 141  # as a shell reports a process ended by SIGPIPE
    except Exception as exc:
        _ended()
        out.flush_before_error()
        if os.environ.get("CSRULES_DEBUG"):
            raise
        _stderr(
            f"csrules: internal error: {type(exc).__name__}: {one_line(str(exc))} "
            "(set CSRULES_DEBUG=1 for a traceback)"
        )
        return ExitCode.INTERNAL
    except BaseException:  # SIGTERM or SIGHUP (`_Terminated`): what was written goes out, as for Ctrl-C
        out.flush_before_error()
        raise


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: each character the stream cannot encode as a JSON escape, `\\u00fc`
    (a pair of them beyond U+FFFF). Outside JSON strings, csrules writes only ASCII, so JSON output
    stays JSON that reads back the same text; Python's `backslashreplace` wrote `\\xfc`, which
    no JSON reader accepts."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for character in error.object[error.start : error.end]:
        code = ord(character)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error("csrules.json-escape", _json_escape)


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the command is, as Ctrl-C raises KeyboardInterrupt: what a
    command cleans up on an error or Ctrl-C (a temporary file beside its output, a scratch
    directory) is cleaned up on these too. Python's default for them ends the process at once."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_ENDING = (signal.SIGTERM, signal.SIGHUP)


_received: list[int] = []  # the SIGTERM or SIGHUP `_terminate` raised `_Terminated` for


def _terminate(signum: int, frame: object) -> None:
    _default_endings()  # a second one (SIGHUP then SIGTERM) ends the process at once, not mid-cleanup
    _received.append(signum)
    raise _Terminated(signum)


def _ended() -> None:
    """`_Terminated` again if one was raised and the code it landed in turned it into an error of
    its own (pydantic wraps an exception raised while it builds a model's schema in a SchemaError,
    and reports one raised while it matches a pattern as a mismatch): the command was ended, and
    ends as such (exit 143 or 129, no message), not with that error."""
    if _received:
        raise _Terminated(_received[0])


def _default_endings() -> None:
    for ending in _ENDING:
        if signal.getsignal(ending) is _terminate:
            signal.signal(ending, signal.SIG_DFL)


def entry() -> None:
    """Console-script wrapper. Text the terminal's encoding cannot show (`PYTHONIOENCODING=ascii`,
    a C locale) is written as JSON escapes (`\\u00fc`) rather than failing half way through a
    listing: valid in JSON output, readable in text. SIGTERM and SIGHUP end the command as Ctrl-C
    does (cleaned up, no output), with exit 143 and 129; one ignored when it starts (`nohup`) stays
    ignored."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="csrules.json-escape")
    for signum in _ENDING:
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _terminate)
    try:
        code = main()
    except _Terminated as exc:
        code = 128 + exc.signum
    finally:  # one arriving after this ends the process as Python's default does, silently
        _default_endings()
    sys.exit(code)
