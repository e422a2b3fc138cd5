"""What every command shares: the exit codes and the argument error."""

from __future__ import annotations

import enum

from ..errors import Error

__all__ = ["ExitCode", "UsageError"]


class ExitCode(enum.IntEnum):
    """Process exit codes of the `csrules` command (one enum, like cedar's CedarExitCode)."""

    OK = 0
    FAILED = 1  # a check found problems
    BAD_INPUT = 2  # a ticket, a policy or an argument is wrong
    INTERNAL = 3  # a bug in csrules: please report it


class UsageError(Error):
    """A command-line argument is wrong (a file that does not exist, a malformed --param)."""
