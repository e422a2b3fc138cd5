"""`csrules check [PATH...] [--strict] [--format text|json]`: load errors and analysis warnings.

Text: one line per problem, `file:line:col: message`, or per warning,
`file:line:col: warning[code]: message` with an indented `example:` ticket, then a summary line.
JSON: one object, `{"ok", "errors", "warnings", "rules", "policy_digest"}`, for CI annotations.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from ..analyze import PolicyWarning, analyze
from ..engine import load
from ..errors import Diagnostic, PolicyError, one_line
from ._common import ExitCode


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _error_json(diagnostic: Diagnostic) -> dict[str, Any]:
    span = diagnostic.span
    return {
        "code": diagnostic.code,
        "message": diagnostic.message,
        "help": diagnostic.help,
        "file": span.file if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
    }


def _warning_json(warning: PolicyWarning) -> dict[str, Any]:
    return {
        "code": warning.code,
        "message": warning.message,
        "file": warning.span.file,
        "line": warning.span.line,
        "column": warning.span.column,
        "rules": list(warning.rules),
        "example": warning.example,
    }


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Exit 0 when the policies load (1 with `--strict` and any warning), 1 when they do not."""
    as_json = getattr(args, "format", "text") == "json"
    try:
        engine = load(args.paths or None)
    except PolicyError as exc:
        if as_json:
            errors = [_error_json(d) for d in exc.diagnostics]
            report = {"ok": False, "errors": errors, "warnings": [], "rules": None, "policy_digest": None}
            out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            return ExitCode.FAILED
        for diagnostic in exc.diagnostics:
            out.write(f"{diagnostic}\n")
        count = len(exc.diagnostics)
        out.write(f"{count} problem{'s' if count != 1 else ''}\n")
        return ExitCode.FAILED
    warnings = analyze(engine)
    code = ExitCode.FAILED if warnings and getattr(args, "strict", False) else ExitCode.OK
    bundle = engine.bundle
    if as_json:
        report = {
            "ok": code == ExitCode.OK,
            "errors": [],
            "warnings": [_warning_json(w) for w in warnings],
            "rules": len(bundle.rules),
            "policy_digest": engine.policy_digest,
        }
        out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return code
    for warning in warnings:
        out.write(f"{warning}\n")
        if warning.example is not None:
            out.write(f"  example: {one_line(_compact(warning.example))}\n")
    status = "ok" if code == ExitCode.OK else "failed (--strict: a warning fails the check)"
    files = len(bundle.files)
    summary = (
        f"{status}: {len(bundle.rules)} rule{'s' if len(bundle.rules) != 1 else ''} in "
        f"{files} file{'s' if files != 1 else ''}, "
        f"policy {engine.policy_digest[:12]}"
    )
    if warnings:
        summary += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    out.write(summary + "\n")
    return code
