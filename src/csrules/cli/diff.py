"""`csrules diff OLD NEW --tickets FILE.jsonl`: which decisions a policy change changes, and why.

OLD and NEW are policy paths (a directory or a file) or `git:REV:path`. Every ticket of the
corpus is decided under both, streamed (memory does not grow with the corpus), in this process
or in `--workers` processes; the report (text, JSON or Markdown, see cli/_diff_report.py) counts
the changed decisions, tabulates the transitions, names the rules that fired under one policy
only, and shows the first `--examples` tickets of each transition with both traces side by side.

Exit codes: 0; 1 with `--fail-on-change` when a decision changed or a ticket is decided under one
side only; 2 when an argument, a policy or the corpus is wrong (unreadable, or not one line could
be compared). Lines that cannot be compared are counted and listed in the report; they do not
stop the diff.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from ..decision import Decision
from ..engine import Engine, load
from ..errors import Diagnostic, PolicyError
from ..impact import DEFAULT_NOW, ImpactReport, decide_line, evaluate_corpus, param_changes
from ..source import TooLarge, blank_line, limited_lines
from ._common import ExitCode, UsageError
from ._diff_report import Compared, Side, render_json, render_markdown, render_text
from ._git import is_git_spec, materialise
from .eval import parse_now, parse_params

__all__ = ["read_lines", "run"]


def read_lines(handle: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line, read lazily.

    Bytes that are not UTF-8 are kept as lone surrogates (`surrogateescape`): the line then fails
    as invalid JSON or as invalid ticket text, with its line number, instead of stopping the diff.
    """
    try:
        for number, raw in enumerate(limited_lines(handle), 1):
            text = raw.decode("utf-8", "surrogateescape")
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not blank_line(text):
                yield number, text
    except OSError as exc:
        raise UsageError(f"{name}: cannot read the tickets: {exc.strerror or exc}") from None
    except TooLarge as exc:  # `--tickets /dev/zero`, a 3 GB line: refused, not read into memory
        raise UsageError(f"{name}:{exc.line}: cannot read the tickets: {exc}") from None


class _Progress:
    """`\\r12,345 tickets, 1,234/s` on a terminal's stderr, at most five times a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._start = self._last = time.monotonic()
        self._shown = False

    def update(self, count: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        rate = count / (now - self._start) if now > self._start else 0.0
        self._stream.write(f"\r{count:,} tickets, {rate:,.0f}/s ")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()


MAX_WORKERS = 1024


def _workers(value: int) -> int:
    if not 0 <= value <= MAX_WORKERS:  # 10**20 kept spawning processes until the machine gave out
        raise UsageError(f"--workers expects 0 (one per core) to {MAX_WORKERS}, got `{value}`")
    return value or os.cpu_count() or 1


def _open_corpus(source: str, stack: ExitStack) -> BinaryIO:
    if source == "-":
        if sys.stdin is None:  # `<&-`
            raise UsageError("-: standard input is closed")
        return sys.stdin.buffer
    try:
        return stack.enter_context(Path(source).open("rb"))
    except OSError as exc:
        raise UsageError(f"{source}: cannot read the tickets: {exc.strerror or exc}") from None


def _policies(given: str, scratch: Path, side: str) -> Path:
    """The policy file or directory OLD or NEW names (`git:REV:path` written out under `scratch`)."""
    if is_git_spec(given):
        return materialise(given, scratch / side)
    path = Path(given)
    if not path.exists():
        raise UsageError(f"`{given}`: no such policy file or directory")
    return path


def _flags(items: list[str], flag: str) -> dict[str, str]:
    """Parameter name -> the flag that gave it (`--param limit`)."""
    return {name: f"{flag} {name}" for name, _, _ in (item.partition("=") for item in items)}


def _load(
    path: Path, given: str, written: Path, side: str, flags: Mapping[str, str], *, params: dict[str, object]
) -> Engine:
    """`csrules.load(path, params=params)`; a PolicyError in policies of `git:REV:path` names each file as
    `git:REV:file` (its repository path), not as the temporary copy it was loaded from, and a
    problem with an override names the side and the flag that gave it (`flags`: parameter name ->
    flag): `params of the old policies (--param nosuch): ...`."""
    try:
        return load(path, params=params)
    except PolicyError as error:
        rev = given.removeprefix("git:").partition(":")[0] if is_git_spec(given) else None

        def named(d: Diagnostic) -> Diagnostic:
            if rev is not None:  # the copy named in the text too: `(first defined at /tmp/.../a.yaml:6:9)`
                copy, shown = f"{written}{os.sep}", f"git:{rev}:"
                d = dataclasses.replace(
                    d,
                    message=d.message.replace(copy, shown),
                    help=None if d.help is None else d.help.replace(copy, shown),
                )
            if d.span is None and d.scope == "params":
                flag = f" ({flags[d.param]})" if d.param is not None and d.param in flags else ""
                return dataclasses.replace(d, scope=f"params of the {side} policies{flag}")
            if rev is None or d.span is None or not d.span.file.startswith(f"{written}{os.sep}"):
                return d
            file = f"git:{rev}:{Path(d.span.file).relative_to(written).as_posix()}"
            return dataclasses.replace(d, span=dataclasses.replace(d.span, file=file))

        raise PolicyError([named(d) for d in error.diagnostics]) from None


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Compare the decisions of the corpus under OLD and NEW; see the module docstring."""
    if args.examples < 0:
        raise UsageError(f"--examples expects 0 or more, got `{args.examples}`")
    workers = _workers(args.workers)
    both = parse_params(args.param)
    only = {
        "old": parse_params(args.old_param, "--old-param"),
        "new": parse_params(args.new_param, "--new-param"),
    }
    flags = {
        side: _flags(args.param, "--param") | _flags(getattr(args, f"{side}_param"), f"--{side}-param")
        for side in only
    }
    now = parse_now(args.now) or DEFAULT_NOW
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="csrules-diff-")))
        old_path = _policies(args.old, scratch, "old")
        new_path = _policies(args.new, scratch, "new")
        # Loaded here, once: a policy error stops the diff before any worker starts, workers
        # decide with these very engines (the digests the report shows), and the examples are
        # decided again here.
        old = _load(old_path, args.old, scratch / "old", "old", flags["old"], params={**both, **only["old"]})
        new = _load(new_path, args.new, scratch / "new", "new", flags["new"], params={**both, **only["new"]})
        corpus = _open_corpus(args.tickets, stack)
        report = ImpactReport(examples=args.examples)
        progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
        results = evaluate_corpus(
            read_lines(corpus, args.tickets),
            old,
            new,
            default_now=now,
            workers=workers,
        )
        try:
            for result in results:
                report.add(result)
                if progress is not None:
                    progress.update(report.tickets + report.errors)
        finally:
            if progress is not None:
                progress.close()
        if report.tickets == 0:
            first = f" (line {report.error_lines[0][0]}: {report.error_lines[0][1]})" if report.errors else ""
            raise UsageError(f"{args.tickets}: no ticket could be compared{first}")
        compared = Compared(
            report=report,
            old=Side(args.old, old.policy_digest),
            new=Side(args.new, new.policy_digest),
            corpus=args.tickets,
            now=now,
            examples=_decide_examples(report, old, new, now),
            params=param_changes(old.params, new.params),
        )
    render = {"json": render_json, "markdown": render_markdown}.get(args.format, render_text)
    out.write(render(compared))
    if args.fail_on_change and (report.changed or report.one_sided):
        return ExitCode.FAILED
    return ExitCode.OK


def _decide_examples(
    report: ImpactReport, old: Engine, new: Engine, now: datetime
) -> dict[int, tuple[Decision, Decision]]:
    """Decide the example tickets again, in this process, for their traces (workers send back
    only what changed, not whole decisions)."""
    decided: dict[int, tuple[Decision, Decision]] = {}
    for line, example in report.examples.items():
        pair = decide_line(old, new, example.text, now)
        # INVARIANT: the same line decided the same way in the corpus run (decisions are pure).
        assert not isinstance(pair, str)
        decided[line] = pair
    return decided
