"""What every command shares: the exit codes and the argument error."""

from __future__ import annotations

import codecs
import contextlib
import enum
import errno
import os
import secrets
import stat
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from ..errors import Error

__all__ = ["ExitCode", "FullWrites", "UsageError", "write_file"]


class ExitCode(enum.IntEnum):
    """Process exit codes of the `csrules` command (one enum, like cedar's CedarExitCode)."""

    OK = 0
    FAILED = 1  # a check found problems
    BAD_INPUT = 2  # a ticket, a policy or an argument is wrong
    INTERNAL = 3  # a bug in csrules: please report it


class UsageError(Error):
    """A command-line argument is wrong (a file that does not exist, a malformed --param)."""


class FullWrites:
    """Text written to a file descriptor, every byte of it or an OSError.

    CPython's `BufferedWriter.write` can return after a partial write (a disk that fills during
    a large write, seen with 3.11) without raising, and `TextIOWrapper` ignores the count: the
    rest was dropped silently, and a command exited 0 with a cut report or file. Here text is
    kept up to 8 KiB (Python's own buffer size), then encoded and written with `os.write` until
    every byte is written: a partial write is followed by another, which raises the error
    (ENOSPC; BrokenPipeError when a pipe's reader left). `flush` writes what is kept.

    A write blocked on a slow reader and cut short by a signal handler's exception (Ctrl-C,
    SIGTERM) leaves its unwritten bytes here, and the next `flush` writes them: the output then
    ends where the command stopped, not in the middle of a line. Each `os.write`'s count is kept
    by C (`list.extend(map(...))`), before a handler can run, so no byte is written twice.
    """

    _LIMIT = 8192

    def __init__(
        self,
        descriptor: int,
        encoding: str = "utf-8",
        errors: str = "strict",
        *,
        lines: bool = False,
        each: bool = False,
    ) -> None:
        self._descriptor = descriptor
        # One encoder for the stream: `str.encode` per block would repeat a byte order mark
        # (`utf-8-sig`, `utf-16`) at every block.
        self._encode = codecs.getincrementalencoder(encoding)(errors).encode
        self._lines = lines  # a terminal's (line buffered): each line written when complete
        self._each = each  # unbuffered (`python -u`, PYTHONUNBUFFERED): each write at once
        self._kept: list[str] = []
        self._size = 0
        self._pending = b""  # encoded, not yet all written
        self._sent: list[int] = []  # the counts of the writes of `_pending` so far

    def write(self, text: str) -> int:
        self._kept.append(text)
        self._size += len(text)
        if self._each or self._size >= self._LIMIT or (self._lines and "\n" in text):
            self.flush()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._kept:
            self._pending += self._encode("".join(self._kept))
            self._kept.clear()
            self._size = 0
        sent, pending = self._sent, self._pending
        while (done := sum(sent)) < len(pending):
            sent.extend(map(os.write, (self._descriptor,), (pending[done:],)))
        self._pending, self._sent = b"", []


def write_file(path: str | Path, write: Callable[[TextIO], object]) -> None:
    """`write(handle)` into a temporary file beside `path`, then renamed over it: however it ends
    (an error, Ctrl-C, a full disk), `path` holds its old content or the whole new one, never a
    part that looks whole (a truncated ticket history, half a report). A link is written through
    (its target is replaced, the link kept; a link loop is an error, as for `open`); a path that
    is not a regular file (a FIFO, a device such as /dev/stdout) is written to directly, as there
    is nothing to replace.

    Raises:
        OSError: the file cannot be written (the temporary file is removed).
    """
    _check_writable_name(path)
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        _write_to(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), write)
        return
    try:  # strict: a link that is its own target (a loop) is an error, as for `open`, not a file
        target = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:  # a new file, or a link to one: created where the link points
        target = Path(os.path.realpath(path))
    suffix = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
    name = f".{target.name}{suffix}"
    if len(os.fsencode(name)) > 255:  # NAME_MAX: a legal long name must not fail for its temporary
        name = f".csrules{suffix}"
    temporary = target.with_name(name)
    # Created as `open` would create the file (0o666 less the umask), then given the mode of the
    # file it replaces, if any.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_to(descriptor, write)
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _write_to(descriptor: int, write: Callable[[TextIO], object]) -> None:
    """`write(handle)` to `descriptor` as UTF-8, then closed; after an error or a signal, what
    was written goes out first (a FIFO's reader gets whole lines), as `open`'s close wrote it."""
    handle = FullWrites(descriptor, lines=os.isatty(descriptor))  # `--output /dev/tty`
    try:
        write(typing.cast(TextIO, handle))
    except BaseException:
        with contextlib.suppress(Exception):
            handle.flush()
        raise
    else:
        handle.flush()
    finally:
        os.close(descriptor)


def _check_writable_name(path: str | Path) -> None:
    """Raise the OSError `open(path, "w")` would for a path that names a directory (`out/`,
    `out/.`) or lies in a folder that is not there as written (`missing/../x`): the rename below
    works on the resolved path, where such paths would turn into other files."""
    text = os.fspath(path)
    name = os.path.basename(text)
    if name == "":  # `out/`: created with O_CREAT, a name ending in a slash is a directory's
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), text)
    if name in (".", ".."):
        os.stat(text)  # `missing/.`: FileNotFoundError; `file/.`: NotADirectoryError
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), text)
    folder = os.path.dirname(text) or "."
    if not os.path.isdir(folder):
        os.stat(folder)  # FileNotFoundError, NotADirectoryError, PermissionError: as `open` says
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), text)
