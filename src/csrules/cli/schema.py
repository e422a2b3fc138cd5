"""`csrules schema policy|ticket|decision`: print the shipped JSON Schema, or write it to a file.

The shipped files (`csrules/schemas/*.schema.json`) are generated from the models by
`csrules schema NAME --generate --output ...` (`make schemas`); a test keeps them up to date.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from ..schema import decision_schema, policy_schema, ticket_schema
from ._common import ExitCode, UsageError, write_file

__all__ = ["GENERATORS", "generate", "run", "shipped"]

GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "policy": policy_schema,
    "ticket": ticket_schema,
    "decision": decision_schema,
}
"""Schema names, and the function that generates each from the models."""


def shipped(name: str) -> str:
    """The text of the schema file shipped in the package."""
    return (resources.files("csrules") / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")


def generate(name: str) -> str:
    """The schema generated from the models, as the shipped files hold it: sorted keys, indented."""
    return json.dumps(GENERATORS[name](), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run(args: argparse.Namespace, out: TextIO) -> ExitCode:
    """Print (or write to --output) the shipped schema, or with --generate a freshly generated one."""
    text = generate(args.name) if args.generate else shipped(args.name)
    if args.output is None:
        out.write(text)
        return ExitCode.OK
    path = Path(args.output)
    try:
        if os.path.basename(args.output) not in ("", ".", ".."):  # `new/sub/` names no file: no folder made
            with contextlib.suppress(FileExistsError):  # a file in the way: the write says "Not a directory"
                path.parent.mkdir(parents=True, exist_ok=True)
        write_file(args.output, lambda handle: handle.write(text))  # as written: `out/` is no file
    except BrokenPipeError:  # a pipe's reader left (/dev/stdout | head): main says 141
        raise
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write the schema: {exc.strerror or exc}") from None
    return ExitCode.OK
