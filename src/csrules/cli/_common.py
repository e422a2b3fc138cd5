"""What every command shares: the exit codes and the argument error."""

from __future__ import annotations

import contextlib
import enum
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..errors import Error

__all__ = ["ExitCode", "UsageError", "write_file"]


class ExitCode(enum.IntEnum):
    """Process exit codes of the `csrules` command (one enum, like cedar's CedarExitCode)."""

    OK = 0
    FAILED = 1  # a check found problems
    BAD_INPUT = 2  # a ticket, a policy or an argument is wrong
    INTERNAL = 3  # a bug in csrules: please report it


class UsageError(Error):
    """A command-line argument is wrong (a file that does not exist, a malformed --param)."""


def write_file(path: str | Path, write: Callable[[TextIO], object]) -> None:
    """`write(handle)` into a temporary file beside `path`, then renamed over it: however it ends
    (an error, Ctrl-C, a full disk), `path` holds its old content or the whole new one, never a
    part that looks whole (a truncated ticket history, half a report).

    Raises:
        OSError: the file cannot be written (the temporary file is removed).
    """
    target = Path(path)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or removed
        "w",
        encoding="utf-8",
        newline="\n",
        dir=target.parent,
        prefix=f".{target.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            write(handle.file)  # type: ignore[arg-type]  # the text stream itself
        if target.exists():  # keep the permissions of the file replaced
            os.chmod(handle.name, target.stat().st_mode & 0o7777)
        else:
            os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
