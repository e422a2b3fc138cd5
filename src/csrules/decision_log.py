"""Stage 9, the decision log: an append-only, hash-chained JSON Lines file of decisions.

This module and load.py are the only ones outside cli/ that touch files: load.py reads policies,
this module reads and writes decision logs (and decisions files, one Decision JSON per line).

Record format, one per line (canonical JSON: sorted keys, no spaces, UTF-8, then `\\n`):

    {"decision": {...}, "hash": H(n), "prev": H(n-1), "seq": n}

- `seq` counts from 1; `prev` of record 1 is 64 zeros;
- `hash` is the sha256 (hex) of the canonical JSON of `{"decision", "prev", "seq"}`: editing any
  byte of a record breaks its own hash, deleting or reordering records breaks `prev` and `seq`;
- `LOG.head` beside the log holds `{"hash", "seq"}` of the last record, replaced atomically after
  every append: cutting records off the end of the log no longer matches it. Anyone can recompute
  sha256, so copy the head (`DecisionLog.head`) to another system to anchor the log against
  someone who rewrites both files;
- the head's `adopted` (present once not empty) lists the records an append or a repair found
  written without their head update and took over: a crash between a write and its head update
  leaves one, and so does a record forged by someone who can write the log but not its head file.
  Nothing tells the two apart afterwards, so `verify_log` notes those records for as long as the
  log lives.

Appending is safe from several threads and processes: each append takes an exclusive `flock` on
the log, reads the last record, writes one line with a single `write`, and `fsync`s before the
lock is released. A crash mid-append leaves at most a torn last line, which the next open reports
(`AuditError` `torn-record`) instead of chaining onto it; `DecisionLog.repair()` cuts it off.
Earlier records are never rewritten, and a repair never cuts a record, whole or edited.

An append that finds the head one record behind (the state a crash between a write and its head
update leaves) first writes the head adopting that record, then its own record: a second crash
leaves the head one record behind again, never two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from . import source
from .decision import Decision
from .errors import AuditError, one_line
from .redact import Redactor
from .source import (
    DuplicateKeyError,
    TooLarge,
    blank_line,
    limit_text,
    limited_lines,
    no_constant,
    read_limited,
    unique_keys,
)
from .values import SERIALIZATION_FAILURES, failure_text, json_kind
from .verify import decision_from_json, parse_decision

__all__ = [
    "GENESIS",
    "DecisionLog",
    "LogRecord",
    "LogRepair",
    "LogReport",
    "decision_text",
    "head_file",
    "read_decisions",
    "verify_log",
]

GENESIS = "0" * 64
"""The `prev` of the first record."""

_BLOCK = 65536

_HASH = re.compile(r"[0-9a-f]{64}")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_DECISION_KEY = '{"decision":'
"""How every record's JSON starts: its keys are sorted, and `decision` is the first."""


def _record_text(decision: str, seq: int, prev: str, digest: str | None = None) -> str:
    """What `_canonical` makes of a record whose decision's canonical JSON is `decision`, built
    around that text instead of encoding the decision again (its keys sorted, `decision` first);
    without `digest`, the content the record's hash covers."""
    hashed = "" if digest is None else f',"hash":{_canonical(digest)}'
    return f'{_DECISION_KEY}{decision}{hashed},"prev":{_canonical(prev)},"seq":{seq}}}'


def _record_hash(seq: int, prev: str, decision: str) -> str:
    """The sha256 of a record's canonical JSON without `hash`; `decision` is the decision's."""
    return hashlib.sha256(_record_text(decision, seq, prev).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LogRecord:
    """One verified record: its line number, sequence number, hash and decision."""

    line: int
    seq: int
    hash: str
    decision: Decision


@dataclass(frozen=True)
class LogReport:
    """The result of checking a whole log: `ok`, how many records, the head, or the first problem."""

    records: int
    head: str
    problem: AuditError | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every record is intact and in order, and the head file agrees."""
        return self.problem is None


@dataclass(frozen=True)
class LogRepair:
    """What `DecisionLog.repair` did: each field is its zero value when nothing needed doing.

    Attributes:
        removed: bytes cut off the end: an interrupted write that left no whole record.
        newline_restored: the last record was whole but for its final newline, which was added
            back (a write cut just before it, or an edit): a whole record is never cut.
        adopted: the record the head file was brought up to, when it had been written without
            its head update; `verify_log` keeps noting it (the head's `adopted`).
        problem: what repair found and left as it is because no crash leaves it (an edited last
            record, a head naming another record): the log still refuses appends, and
            `csrules log verify` says where. None when the log can be appended to.
        leftovers: temporary head files removed, left beside the log by writers killed while
            they replaced the head (`LOG.head.<pid>.<thread>.tmp`).
    """

    removed: int = 0
    newline_restored: bool = False
    adopted: int | None = None
    problem: AuditError | None = None
    leftovers: int = 0

    @property
    def ok(self) -> bool:
        """True when the log can be appended to after the repair."""
        return self.problem is None

    def describe(self) -> str:
        """One line saying what was done, as `csrules log repair` prints it."""
        done = []
        if self.removed:
            done.append(f"removed a torn record of {self.removed} bytes")
        if self.newline_restored:
            done.append("restored the last record's missing final newline")
        if self.adopted is not None:
            done.append(
                f"brought the head file up to record {self.adopted}, written without its head update "
                "(`log verify` keeps noting it)"
            )
        if self.leftovers:
            files = "file" if self.leftovers == 1 else "files"
            done.append(f"removed {self.leftovers} temporary head {files} left by killed writers")
        text = "; ".join(done) if done else "nothing to repair"
        if self.problem is not None:
            text += (
                f"; left as it is, as no crash leaves it: {self.problem.message} [{self.problem.code}] "
                "(run `csrules log verify`)"
            )
        return one_line(text)


class _Head(NamedTuple):
    """The head file: the last record's seq and hash, and the records adopted (see module doc)."""

    seq: int
    hash: str
    adopted: tuple[int, ...] = ()


def head_file(path: str | os.PathLike[str]) -> Path:
    """The head file of the log at `path`: `LOG.head` beside the log itself, wherever links to it
    are (`link.jsonl` -> `data/real.jsonl` has `data/real.jsonl.head`). A log a link led to
    before csrules looked through links (2026-11-29) has its head beside the link: that one is
    kept, while there is none beside the log itself."""
    real = Path(os.path.realpath(path))
    head = real.with_name(real.name + ".head")
    given = Path(path)
    legacy = given.with_name(given.name + ".head")
    if given.name and legacy != head and not os.path.lexists(head) and os.path.lexists(legacy):
        return legacy
    return head


def _name_max(directory: Path) -> int:
    """The longest file name, in bytes, the directory's file system takes (255 when it cannot say)."""
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _tail(fd: int, size: int, path: Path) -> tuple[int, str]:
    """(seq, hash) of the log's last record, (0, GENESIS) for an empty log."""
    seq, digest, _prev = _last_record(fd, size, path)
    return seq, digest


def _last_record(fd: int, size: int, path: Path) -> tuple[int, str, str]:
    """(seq, hash, prev) of the log's last record, (0, GENESIS, GENESIS) for an empty log."""
    if size == 0:
        return 0, GENESIS, GENESIS
    os.lseek(fd, size - 1, os.SEEK_SET)
    if os.read(fd, 1) != b"\n":
        raw, start = _last_line(fd, size + 1, str(path))
        kept = _torn_end(raw, str(path))
        if kept:  # a whole record that lost its newline: torn only if it chains, like any record
            _chained(fd, start, raw[:kept], path)
        raise _unterminated(kept, str(path), None)
    raw, start = _last_line(fd, size, str(path))
    # A complete line (an append writes its record and newline at once, and a record holds no raw
    # newline, so a cut write never ends with one) that is no record, or whose hash does not hold,
    # or that does not follow the line before it, was edited: `invalid-record`, `altered-record` or
    # `broken-chain`, as verify_log says, and evidence that repair keeps. Chaining onto it, or
    # adopting it, would vouch for it.
    return _chained(fd, start, raw, path)


def _chained(fd: int, start: int, raw: bytes, path: Path) -> tuple[int, str, str]:
    """(seq, hash, prev) of the record `raw`, on the line at `start`: AuditError unless it is a
    record as csrules writes it, its hash holding, that follows the line before it."""
    seq, prev, digest, _ = _verified_record(raw, str(path), None)
    if not _follows(fd, start, seq, prev):
        raise AuditError(
            "broken-chain",
            f"the last record (record {seq}) does not follow the line before it: a record was deleted, "
            "moved or duplicated",
            str(path),
        )
    return seq, digest, prev


_RECORD_END = re.compile(rb',"hash":"([0-9a-f]{64})","prev":"[0-9a-f]{64}","seq":([1-9][0-9]*)\}\Z')
"""How a record line ends (its keys sorted, `decision` first): its hash and sequence number."""


def decision_text(line: str) -> str | None:
    """The decision's JSON text in a record line as csrules writes it (its keys sorted, `decision`
    first, then `hash`, `prev` and `seq`), as written: its numbers' digits, its offsets. None for a
    line of another form."""
    if not line.startswith(_DECISION_KEY):
        return None
    end = _RECORD_END.search(line.encode("utf-8"))
    if end is None:
        return None
    return line.encode("utf-8")[len(_DECISION_KEY) : end.start()].decode("utf-8")


def _follows(fd: int, start: int, seq: int, prev: str) -> bool:
    """Whether the record on the line at `start` follows the line before it: the first record at
    the start of the log, any other after the record it names as `prev`. Only the end of that line
    is read (its hash and seq): verify_log checks the records before."""
    if start == 0 or seq == 1:
        return start == 0 and seq == 1 and prev == GENESIS
    width = min(start - 1, 256)  # the line's end, before its newline: 158 bytes and seq's digits
    os.lseek(fd, start - 1 - width, os.SEEK_SET)
    before = _RECORD_END.search(os.read(fd, width))
    return before is not None and int(before[2]) == seq - 1 and before[1].decode() == prev


def _head_follows(stored: _Head | None, last: tuple[int, str, str]) -> bool:
    """Whether the head file agrees with the log's last record, or is one record behind it (a
    crash between a write and the head's update, possibly on the very first append)."""
    if stored is None and last[0] == 0:  # an empty log, never written to
        return True
    return (stored is not None and stored[:2] == last[:2]) or _head_lags(stored, last)


def _head_lags(stored: _Head | None, last: tuple[int, str, str]) -> bool:
    """Whether the head file is exactly one record behind the log's last record (none at all when
    that record is the first)."""
    seq, _digest, prev = last
    if stored is None:
        return seq == 1 and prev == GENESIS
    return stored[:2] == (seq - 1, prev)


def _next_head(stored: _Head | None, last: tuple[int, str, str]) -> _Head:
    """The head naming `last`, adopting it when the head file lags behind it (`_head_follows`)."""
    adopted = stored.adopted if stored is not None else ()
    if _head_lags(stored, last):
        adopted = (*adopted, last[0])
    return _Head(last[0], last[1], adopted)


def _write_head(path: Path, head: _Head, *, fsync: bool) -> None:
    """Replace the head file atomically (write a temporary file, then rename it over the head)."""
    content: dict[str, Any] = {"hash": head.hash, "seq": head.seq}
    if head.adopted:  # a log never adopted anything keeps the head files of before
        content["adopted"] = list(head.adopted)
    target = head_file(path)
    suffix = f".{os.getpid()}.{threading.get_ident()}.tmp"
    name = f"{target.name}{suffix}"
    if len(os.fsencode(name)) > _name_max(target.parent):  # a legal long log name must not fail for it
        name = f".csrules-head{suffix}"
    temporary = target.with_name(name)
    try:
        temporary.write_text(_canonical(content) + "\n", encoding="utf-8")
        if fsync:
            with temporary.open("rb") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:  # a full disk, an interrupt: no temporary file left beside the log
        with contextlib.suppress(OSError):  # the first failure is the one to report
            temporary.unlink(missing_ok=True)
        raise
    if fsync:  # the rename itself is durable only once the directory is
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _last_line(fd: int, size: int, file: str) -> tuple[bytes, int]:
    """The last line of the file (without its newline) and the offset where it starts; AuditError
    (`invalid-record`) past MAX_JSON_BYTES, read no further: no record is that long."""
    end = size - 1  # the final newline
    chunks: list[bytes] = []  # read backwards, joined once: a long line costs its length, not its square
    position = end
    while position > 0 and end - position <= source.MAX_JSON_BYTES:
        start = max(0, position - _BLOCK)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, position - start)
        position = start
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            chunks.append(chunk[newline + 1 :])
            position += newline + 1
            break
        chunks.append(chunk)
    if end - position > source.MAX_JSON_BYTES:
        message = f"the last line is longer than {limit_text()}: no record is"
        raise AuditError("invalid-record", message, file)
    return b"".join(reversed(chunks)), position


def _parse_record(raw: bytes, file: str, line: int | None) -> tuple[int, str, str, str]:
    """(seq, prev, hash, the decision's canonical JSON) of a record line, which must be the very
    bytes csrules writes; AuditError when it is not a record. (Its hash is checked by
    `_verified_record`.)"""
    try:  # NaN and Infinity are no JSON: no decision holds them
        data = json.loads(raw, object_pairs_hook=unique_keys, parse_constant=no_constant)
    except DuplicateKeyError as exc:  # the hash covers the value read, not the other one shown
        raise AuditError("invalid-record", f"not a log record ({exc})", file, line) from None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, an int of 4,300+ digits
        raise AuditError("invalid-record", "not a log record (not JSON)", file, line) from None
    if (
        not isinstance(data, dict)
        or set(data) != {"decision", "hash", "prev", "seq"}
        or type(data["seq"]) is not int  # `true` is an int to isinstance
        or data["seq"] < 1
        or not isinstance(data["prev"], str)
        or not isinstance(data["hash"], str)
    ):
        raise AuditError(
            "invalid-record", "not a log record (expected keys decision, hash, prev, seq)", file, line
        )
    try:
        canonical = _canonical(data)
        written = canonical.encode("utf-8")
    except UnicodeEncodeError:  # a `\ud800` escape: no decision holds a lone surrogate
        raise AuditError("invalid-record", "not a log record (a lone surrogate)", file, line) from None
    except RecursionError:  # read back, but nested too deeply to write again: no decision is
        raise AuditError("invalid-record", "not a log record (nested too deeply)", file, line) from None
    if raw.rstrip(b"\n") != written:
        # The hash covers the values read; the record must also be the very bytes written, so an
        # edit that reads back the same (CRLF, a BOM, spaces, `\u0043`, `1e1` for 10.0) shows.
        raise AuditError(
            "altered-record", "the record is not in the form csrules writes: it was edited", file, line
        )
    seq, prev, digest = data["seq"], data["prev"], data["hash"]
    after = len(_record_text("", seq, prev, digest)) - len(_DECISION_KEY)  # hash, prev and seq
    return seq, prev, digest, canonical[len(_DECISION_KEY) : len(canonical) - after]


def _verified_record(raw: bytes, file: str, line: int | None) -> tuple[int, str, str, str]:
    """`_parse_record`, and the record's hash must hold (`altered-record` when it does not)."""
    seq, prev, digest, data = _parse_record(raw, file, line)
    if _record_hash(seq, prev, data) != digest:
        what = f"record {seq}" if line is not None else f"the last record (record {seq})"
        raise AuditError("altered-record", f"{what} was altered: its hash does not match", file, line)
    return seq, prev, digest, data


class DecisionLog:
    """An append-only, hash-chained log of decisions in a JSON Lines file.

    Opening checks the end of an existing log: a torn last line (a crash mid-write) raises
    `AuditError` with code `torn-record`; call `DecisionLog.repair(path)` to cut it off.

    Args:
        path: the log file; created (with its `.head`) on the first append.
        fsync: flush every record to disk before `append` returns (default True).
        redactor: replaces personal data by salted hashes before a decision is written
            (`csrules.Redactor`); the records still verify.

    Raises:
        AuditError: the end of the existing log does not read as a log (`torn-record`: a torn
            last line).
        TypeError: `fsync` is not a bool, or `redactor` not a Redactor.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fsync: bool = True, redactor: Redactor | None = None
    ) -> None:
        if not isinstance(fsync, bool):
            raise TypeError(f"DecisionLog(): `fsync` must be a bool, got {type(fsync).__name__}")
        if redactor is not None and not isinstance(redactor, Redactor):
            raise TypeError(
                f"DecisionLog(): `redactor` must be a csrules.Redactor or None, got {type(redactor).__name__}"
            )
        self.path = Path(path)
        self._fsync = fsync
        self._redactor = redactor
        self._lock = threading.Lock()
        if self.path.exists():
            with _open_shared(self.path) as handle:  # not while another writer is mid-append
                self._check_tail(handle.fileno(), os.fstat(handle.fileno()).st_size)

    def __repr__(self) -> str:
        return f"<csrules.DecisionLog {str(self.path)!r}>"

    def _check_tail(self, fd: int, size: int) -> tuple[int, str]:
        return _tail(fd, size, self.path)

    def _record_json(self, decision: Decision) -> str:
        """The decision's canonical JSON for its record, once it reads back as a Decision: one
        changed after it was made (`model_copy(update=...)`, `model_construct`, a list appended
        to) may not, and its record, once chained, could never be read or removed."""
        try:
            # As `Decision.to_json` writes it (json.dumps of its JSON-mode dump), with pydantic's
            # warnings about values of other types off: validating the text says what is wrong.
            text = _canonical(decision.model_dump(mode="json", warnings=False))
        except SERIALIZATION_FAILURES as exc:  # pydantic's serializer fails in many ways on such data
            message = one_line(failure_text(exc))
            raise AuditError(
                "invalid-decision", f"not a decision: {message}; nothing was appended", str(self.path)
            ) from None
        try:
            decision_from_json(text)
        except AuditError as exc:
            raise AuditError(exc.code, f"{exc.message}; nothing was appended", str(self.path)) from None
        return text

    def append(self, decision: Decision) -> LogRecord:
        """Append one decision; returns its record (sequence number and hash).

        Raises:
            AuditError: the log ends with a torn record (`torn-record`) or a complete line that is
                no record (`invalid-record`), whose hash does not hold (`altered-record`) or that
                does not follow the line before it (`broken-chain`): it was edited; its head file
                does not name its last record (`truncated-log`: records were cut off or the head
                removed; one record behind, the state a crash leaves, is fine) or is no head file
                (`invalid-head`); the decision does not read back as a Decision (it was changed
                after it was made, with `model_copy(update=...)` say) or its record would be larger
                than `MAX_JSON_BYTES`, the most a reader reads as one line (`invalid-decision`);
                the log cannot be opened for appending (`no-such-file`: its folder is missing, no
                permission, or its name leaves no room for `.head` in a file name).
            TypeError: `decision` is not a Decision (a decision's JSON text, say).
        """
        if not isinstance(decision, Decision):
            raise TypeError(f"append takes a csrules.Decision, got {type(decision).__name__}")
        if self._redactor is not None:
            try:
                decision = self._redactor.redact(decision)
            except AuditError as exc:  # it does not read back as a Decision
                raise AuditError(exc.code, f"{exc.message}; nothing was appended", str(self.path)) from None
        data = self._record_json(decision)
        head = head_file(self.path)
        longest = _name_max(head.parent)
        if len(os.fsencode(head.name)) > longest:  # a record no head could follow
            raise AuditError(
                "no-such-file",
                f"the log's name is too long: its head file `{head.name[:24]}....head` would be longer "
                f"than the {longest} bytes a file name may have; nothing was appended",
                str(self.path),
            )
        with self._lock:
            try:
                fd = _open_file(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
            except OSError as exc:  # its folder is missing, it is a folder, no permission
                problem = f"cannot open the log: {exc.strerror}"
                raise AuditError("no-such-file", problem, str(self.path)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                last = _last_record(fd, size, self.path)
                stored = _read_head(self.path)
                if not _head_follows(stored, last):
                    # Appending would write a new head over the evidence (verify_log would then say ok).
                    raise AuditError(
                        "truncated-log",
                        "the head file does not name the log's last record: records were cut off "
                        "or replaced, or the head was removed; nothing was appended (run "
                        "`csrules log verify`)",
                        str(self.path),
                    )
                if last[0] and _head_lags(stored, last):
                    # Adopt the record written without its head update before writing another: a
                    # crash after that write leaves the head one record behind, not two.
                    stored = _next_head(stored, last)
                    _write_head(self.path, stored, fsync=self._fsync)
                adopted = stored.adopted if stored is not None else ()
                last_seq, prev = last[0], last[1]
                seq = last_seq + 1
                digest = _record_hash(seq, prev, data)
                line = (_record_text(data, seq, prev, digest) + "\n").encode()
                if len(line) > source.MAX_JSON_BYTES:  # no reader would read it back
                    message = f"the decision's record would be larger than {limit_text()}"
                    raise AuditError("invalid-decision", f"{message}; nothing was appended", str(self.path))
                written = os.write(fd, line)
                if written != len(line):  # a short write: the next open sees a torn record
                    raise OSError(f"short write to {self.path}: {written} of {len(line)} bytes")
                if self._fsync:
                    os.fsync(fd)
                _write_head(self.path, _Head(seq, digest, adopted), fsync=self._fsync)
            finally:
                os.close(fd)  # releases the flock
        return LogRecord(line=seq, seq=seq, hash=digest, decision=decision)

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last record, from the log itself; (0, GENESIS) when empty."""
        if not self.path.exists():
            return 0, GENESIS
        with _open_shared(self.path) as handle:
            return self._check_tail(handle.fileno(), os.fstat(handle.fileno()).st_size)

    def __iter__(self) -> Iterator[LogRecord]:
        """Every record, checked on the way: AuditError at the first that breaks the chain."""
        return _records(self.path)

    @staticmethod
    def repair(path: str | os.PathLike[str]) -> LogRepair:
        """Mend what a crash mid-append leaves, and say what was done.

        - A last line without its newline that is the start of a record as csrules writes it (an
          interrupted write), or NUL bytes after a whole record or such a start (a file system that
          kept the size of a write but not all of its data), is cut off; a whole record in the
          form csrules writes, following the record before it, gets its newline back: a repair
          never cuts a record.
        - A head file one record behind the last record (a crash between the write and the head's
          update; no head file at all when that record is the first) is brought up to it, and the
          record is listed as adopted, which `verify_log` keeps noting.
        - Temporary head files that writers killed while they replaced the head left beside the
          log (`LOG.head.<pid>.<thread>.tmp`) are removed.

        Anything else is left as it is and returned as `LogRepair.problem`: a head naming another
        record, a missing head with more than one record, an edited last record, a last record
        out of sequence, a record with bytes after it. No crash leaves those: they are tampering,
        which repair must not hide.

        Raises:
            AuditError: the log cannot be opened (`no-such-file`) or its head file cannot be read
                (`invalid-head`); then nothing was changed. The head file cannot be written
                (`no-such-file`): a torn end may have been mended, the head is left as it was.
        """
        target = Path(path)
        try:
            fd = _open_file(target, os.O_RDWR)
        except OSError as exc:
            raise AuditError("no-such-file", f"cannot open the log: {exc.strerror}", str(target)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            done = _repaired(fd, target)
            # After the rest: an unreadable head file, say, changes nothing (docstring).
            return dataclasses.replace(done, leftovers=_remove_leftover_heads(target))
        finally:
            os.close(fd)


def _repaired(fd: int, target: Path) -> LogRepair:
    """`DecisionLog.repair` of the log open at `fd`, whose lock the caller holds."""
    stored = _read_head(target)  # before any change: an unreadable head changes nothing
    size = os.fstat(fd).st_size
    removed, restored = 0, False
    if size:
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) != b"\n":  # only a line without its newline is a cut write (_last_record)
            try:
                raw, start = _last_line(fd, size + 1, str(target))
            except AuditError as problem:  # far longer than any record: evidence, left alone
                return LogRepair(problem=problem)
            kept = _torn_end(raw, str(target))
            if kept is None:
                return LogRepair(problem=_unterminated(kept, str(target), None))
            if kept:  # a whole record: its newline back only if it follows the record before
                try:
                    _chained(fd, start, raw[:kept], target)
                except AuditError as problem:
                    return LogRepair(problem=problem)
            if kept < len(raw):
                os.ftruncate(fd, start + kept)
                removed = len(raw) - kept
                size = start + kept
            if kept:  # a whole record: its newline back
                os.lseek(fd, 0, os.SEEK_END)
                os.write(fd, b"\n")
                restored = True
                size += 1
            os.fsync(fd)
    try:
        last = _last_record(fd, size, target)
    except AuditError as problem:  # an edited last record: nothing to bring the head up to
        return LogRepair(removed, restored, problem=problem)
    if last[0] and _head_lags(stored, last):
        try:
            _write_head(target, _next_head(stored, last), fsync=True)
        except OSError as exc:  # a read-only folder, a full disk: one line, as for the log
            raise AuditError(
                "no-such-file",
                f"cannot write the head file: {exc.strerror or exc}; the log ends with a whole "
                f"record (record {last[0]}) the head does not name yet: repair again once the "
                "head file can be written",
                str(target),
            ) from None
        return LogRepair(removed, restored, last[0])
    if not _head_follows(stored, last):
        what = "the head file is missing"
        if stored is not None:
            what = f"the head file names record {stored.seq}, the log ends at record {last[0]}"
        return LogRepair(removed, restored, problem=AuditError("truncated-log", what, str(target)))
    return LogRepair(removed, restored)


def _remove_leftover_heads(target: Path) -> int:
    """Remove the temporary head files (`LOG.head.<pid>.<thread>.tmp`, `_write_head`) that writers
    killed between writing one and renaming it over the head left beside the log; how many. The
    caller holds the log's lock, under which alone one is written: none is in use. (The shared
    fallback name of a log whose name is too long for them, `.csrules-head.*.tmp`, may be another
    log's: those are left.)"""
    head = head_file(target)
    pattern = re.compile(re.escape(head.name) + r"\.[0-9]+\.[0-9]+\.tmp")
    try:
        names = os.listdir(head.parent)
    except OSError:  # no permission to list the folder: nothing removed
        return 0
    removed = 0
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):  # gone meanwhile, a read-only folder: left
                os.unlink(head.parent / name)
                removed += 1
    return removed


def _torn_end(raw: bytes, file: str) -> int | None:
    """How many bytes of a last line without its newline to keep: 0 for a cut write (the start of
    a record, possibly followed by NUL bytes), the record's length for a whole record, alone or
    followed only by NUL bytes; None when the line is neither (an edit: repair leaves it as it is)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        _value, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return 0 if _record_start(raw) else None
    except RecursionError:
        return None  # nested beyond anything csrules writes: not a cut record of ours
    whole = len(text[:end].encode("utf-8"))
    if raw[whole:].strip(b"\0") or not _whole_record(raw[:whole], file):
        return None
    return whole


_OUTSIDE = re.compile(r'["{}\[\]\s]')
_IN_STRING = re.compile(r'["\\]')
_LITERAL_ENDS = tuple(word[cut:] for word in ("true", "false", "null") for cut in range(1, len(word)))
_OPEN_ENDS = ("", "0", ":0", '"":0', *_LITERAL_ENDS)  # to close a value, key or literal cut short
_STRING_ENDS = tuple(
    pad + '"' + after for pad in ("", "n", "0", "00", "000", "0000") for after in ("", ":0")
)  # to close a string cut after a backslash or inside a `\u` escape, a key's too


def _record_start(raw: bytes) -> bool:
    """Whether a line is what a write cut short leaves of a record: the first bytes of one as
    csrules writes it (its opening, no space between tokens, JSON so far), cut anywhere, inside a
    UTF-8 character too, and possibly followed by NUL bytes (a file system that kept the write's
    size but not its data). It is, when some ending closes it into JSON; `_STRING_ENDS` and
    `_OPEN_ENDS` hold one for every place a cut can fall."""
    cut = raw.rstrip(b"\0")
    try:
        text = cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # bad bytes before the end: an edit
            return False
        text = cut[: exc.start].decode("utf-8")
    if not (text.startswith(_DECISION_KEY) or _DECISION_KEY.startswith(text)):
        return False
    closers: list[str] = []
    in_string, position = False, 0
    while True:  # from token to token, strings skipped at C speed
        found = (_IN_STRING if in_string else _OUTSIDE).search(text, position)
        if found is None:
            break
        char, position = found.group(), found.end()
        if char == '"':
            in_string = not in_string
        elif in_string:  # a backslash: the character after it is escaped
            if position == len(text):
                break
            position += 1
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if not closers or closers.pop() != char:
                return False
        else:  # csrules writes no space between tokens
            return False
    if not closers:  # the record's own `}` closed: it is whole, not cut
        return text == ""
    closing = "".join(reversed(closers))
    for ending in _STRING_ENDS if in_string else _OPEN_ENDS:
        try:
            json.loads(text + ending + closing, parse_constant=no_constant)
        except ValueError:  # also a number of 4,300+ digits, which csrules never writes
            continue
        except RecursionError:
            return False
        return True
    return False


def _unterminated(kept: int | None, file: str, line: int | None) -> AuditError:
    """The problem with a last line that lacks its newline, `kept` as `_torn_end` says: what a
    crash leaves (`torn-record`, which repair mends), or an edit (`invalid-record`, which it
    leaves)."""
    if kept is None:
        return AuditError(
            "invalid-record",
            "the last line lacks its newline but is neither a whole record nor the start of one (what "
            "a write cut short leaves): it was edited",
            file,
            line,
        )
    return AuditError(
        "torn-record",
        "the last record is incomplete (a write was interrupted): `csrules log repair` mends it",
        file,
        line,
    )


def _whole_record(raw: bytes, file: str) -> bool:
    """Whether a line is a record exactly as csrules writes it, its hash holding (repair keeps it)."""
    try:
        _verified_record(raw, file, None)
    except AuditError:
        return False
    return True


def _open_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` of a regular file, or OSError: a FIFO (whose open would wait for a writer) or a
    device is refused without waiting, as a pipe has no size to check records against (a log read
    from one read as empty: "ok: 0 records")."""
    fd = os.open(path, flags | os.O_NONBLOCK, mode)
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):  # read-only opens of a directory succeed
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(kind):
            raise OSError(errno.EINVAL, "not a regular file (a pipe or a device)")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_shared(path: Path) -> BinaryIO:
    """The log opened for reading under a shared lock: while it is held no append is half done,
    so the size and the head file read then belong together (`_snapshot`)."""
    try:
        handle = os.fdopen(_open_file(path, os.O_RDONLY), "rb")
    except OSError as exc:
        raise AuditError("no-such-file", f"cannot read the log: {exc.strerror}", str(path)) from None
    fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    return handle


def _snapshot(path: Path) -> tuple[BinaryIO, int, _Head | None]:
    """The log open for reading, its size and its head file, read together under the shared lock,
    which is then released: appends only add after that size, so reading up to it needs no lock
    (holding it for as long as an iterator lives would make an append wait, even in this thread)."""
    handle = _open_shared(path)
    try:
        size = os.fstat(handle.fileno()).st_size
        stored = _read_head(path)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except BaseException:
        handle.close()
        raise
    return handle, size, stored


def _records(path: Path, handle: BinaryIO | None = None, size: int | None = None) -> Iterator[LogRecord]:
    """The records of the log up to `size` bytes (by default, its size when iteration starts)."""
    file = str(path)
    prev = GENESIS
    expected_seq = 1
    owned = handle is None
    if handle is None:
        handle = _open_shared(path)
        size = os.fstat(handle.fileno()).st_size
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)  # a snapshot: see _snapshot
    stream = handle
    read = 0
    try:
        for number, line in enumerate(limited_lines(stream), 1):
            if size is not None and read >= size:
                break  # appended after the snapshot
            read += len(line)
            raw, torn = line, not line.endswith(b"\n")
            if torn:
                kept = _torn_end(line, file)
                if not kept:
                    raise _unterminated(kept, file, number)
                raw = line[:kept]  # a whole record that lost its newline: torn only if it chains
            seq, record_prev, digest, data = _verified_record(raw, file, number)
            if seq != expected_seq or record_prev != prev:
                what = "deleted or moved" if seq > expected_seq else "moved or duplicated"
                raise AuditError(
                    "broken-chain",
                    f"expected record {expected_seq} chained to the one before, found record {seq}: "
                    f"a record was {what}",
                    file,
                    number,
                )
            if torn:
                raise _unterminated(kept, file, number)
            try:
                decision = decision_from_json(data, file)
            except AuditError as exc:  # the record's hash holds, but it is not a decision: say where
                raise AuditError(exc.code, exc.message, file, number) from None
            yield LogRecord(number, seq, digest, decision)
            prev = digest
            expected_seq += 1
    except TooLarge as exc:  # a 3 GB line: refused, not read into memory
        raise AuditError("invalid-record", f"not a record: {exc}", file, exc.line) from None
    finally:
        if owned:
            stream.close()


def _read_head(path: Path) -> _Head | None:
    """The head file; None when there is none; AuditError when it is not one."""
    head_path = head_file(path)
    try:
        # Bounded: a head file replaced by /dev/zero is no head; a FIFO is refused, not waited on
        # (with the log's lock held, every append would wait too).
        with os.fdopen(_open_file(head_path, os.O_RDONLY), "rb") as handle:
            text = read_limited(handle).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, TooLarge):
        raise AuditError("invalid-head", "the head file cannot be read", str(head_path)) from None
    try:
        stored = json.loads(text)
    except (ValueError, RecursionError):
        stored = None
    if (
        not isinstance(stored, dict)
        or type(stored.get("seq")) is not int  # `true` is an int to isinstance
        or stored["seq"] < 1
        or not isinstance(stored.get("hash"), str)
        or not _HASH.fullmatch(stored["hash"])
    ):
        raise AuditError("invalid-head", "the head file is not a head record (seq, hash)", str(head_path))
    adopted = stored.get("adopted", [])
    if not (
        isinstance(adopted, list)
        and all(type(seq) is int for seq in adopted)
        and adopted == sorted(set(adopted))
        and all(1 <= seq <= stored["seq"] for seq in adopted)
    ):
        raise AuditError(
            "invalid-head",
            "the head file's `adopted` is not a list of increasing record numbers up to its own",
            str(head_path),
        )
    return _Head(stored["seq"], stored["hash"], tuple(adopted))


_CATCH_UP = "the next append or `csrules log repair` adopts the record, and verifying keeps noting it"

_SHOWN = 10
"""Adopted records named in a note; the rest are counted."""


def _adopted_note(adopted: tuple[int, ...]) -> str:
    shown = ", ".join(str(seq) for seq in adopted[:_SHOWN])
    if len(adopted) > _SHOWN:
        shown += f" and {len(adopted) - _SHOWN} more"
    many = len(adopted) > 1
    return (
        f"{'records' if many else 'record'} {shown} {'were' if many else 'was'} written without "
        f"{'their' if many else 'its'} head update and adopted by a later append or repair: a crash "
        "leaves such a record, and so does someone who can write the log but not its head file; "
        f"the head file does not vouch for {'them' if many else 'it'}"
    )


def verify_log(path: str | os.PathLike[str], *, head: str | None = None) -> LogReport:
    """Check every record of the log and its head file (and `head`, a hash kept elsewhere: the
    log's head when it was taken, so the log must hold that record, and may have grown since).

    Never raises for a tampered log: the problem is in the report.

    Raises:
        ValueError: `head` is not the 64 hex digits of a record hash (a 12-digit prefix, as
            messages show hashes, is not enough to vouch for a log).
    """
    if head is not None and not (isinstance(head, str) and _HASH.fullmatch(head.strip().lower())):
        raise ValueError(
            f"the anchor must be the 64 hex digits of a record hash, got `{one_line(str(head))}`"
        )
    target = Path(path)
    count, last, previous = 0, GENESIS, GENESIS
    notes: list[str] = []
    anchor = head.strip().lower() if isinstance(head, str) else None
    # The record the anchor names, once found; an empty log's head (GENESIS) names "record 0",
    # which every log holds.
    anchored: int | None = 0 if anchor == GENESIS else None
    try:
        handle, size, stored = _snapshot(target)  # the records and the head of one moment
        with handle:
            for record in _records(target, handle, size):
                previous, count, last = last, record.seq, record.hash
                if record.hash == anchor:
                    anchored = record.seq
        if stored is None:
            if count > 1:
                raise AuditError("truncated-log", "the head file is missing", str(target))
            if count == 1:  # as `_head_follows` has it: the state a crash in the first append leaves
                notes.append(
                    "the log has one record and no head file: the first append did not finish (a crash), "
                    f"or a log was cut to its first record and its head file deleted; {_CATCH_UP}"
                )
            elif head is None:  # nothing in the log to contradict, nothing to check it against
                notes.append(
                    "the log has no records and no head file: a log never written to, or one emptied "
                    "and its head file deleted; only a head hash kept elsewhere (`--head`) tells them apart"
                )
        elif stored[:2] != (count, last):
            if not _head_lags(stored, (count, last, previous)):
                what = (
                    "records were cut off the end, or the last one was replaced"
                    if stored[0] >= count
                    else "later records were written without their head updates (a crash leaves one at "
                    "most), or records were replaced"
                )
                raise AuditError(
                    "truncated-log",
                    f"the head file names record {stored[0]}, the log ends at record {count}: {what}",
                    str(target),
                )
            # One record behind: a crash between a write and the head's update (appends hold a
            # lock from the write to the head's update, so a head is never further behind).
            notes.append(
                f"the head file names record {stored[0]} of {count}: a write finished without its head "
                f"update (a crash), or someone who cannot write the head file added a record; {_CATCH_UP}"
            )
        if stored is not None and stored.adopted:
            notes.append(_adopted_note(stored.adopted))
        if anchor is not None:
            if anchored is None:
                raise AuditError(
                    "truncated-log",
                    f"the anchor given, {one_line(head or '')[:12]}, names no record of the log (its head is "
                    f"{last[:12]}): records were cut off or replaced",
                    str(target),
                )
            if anchored < count:
                notes.append(
                    f"the anchor given names record {anchored} of {count}: the log holds it intact, and "
                    f"{count - anchored} record(s) appended since, which it cannot vouch for"
                )
    except AuditError as problem:
        return LogReport(count, last, problem, tuple(notes))
    except OSError as exc:
        return LogReport(
            count, last, AuditError("no-such-file", f"cannot read the log: {exc.strerror}", str(target))
        )
    return LogReport(count, last, None, tuple(notes))


def read_decisions(path: str | os.PathLike[str]) -> Iterator[Decision]:
    """Decisions from a JSON Lines file, streamed: each line a Decision JSON, or a log record
    holding one under `decision` (the chain is not checked: use `verify_log` for that).

    Raises:
        AuditError: a line that is not a decision (`invalid-decision`), or an unreadable file.
    """
    target = Path(path)
    try:
        with target.open("rb") as handle:  # lines end at \n only: a \r inside a line is JSON's whitespace
            yield from _decision_lines(limited_lines(handle), str(target))
    except TooLarge as exc:  # /dev/zero, a 3 GB line: refused, not read into memory
        raise AuditError("invalid-decision", f"not a decision: {exc}", str(target), exc.line) from None
    except OSError as exc:
        raise AuditError("no-such-file", f"cannot read the file: {exc.strerror}", str(target)) from None


def _decision_lines(lines: Iterable[bytes], file: str) -> Iterator[Decision]:
    for number, raw in enumerate(lines, 1):
        try:
            line = (raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw).decode("utf-8")
        except UnicodeDecodeError:
            raise AuditError("invalid-decision", "not UTF-8 text", file, number) from None
        if blank_line(line):
            continue
        try:
            data = json.loads(line, object_pairs_hook=unique_keys)
        except DuplicateKeyError as exc:
            raise AuditError("invalid-decision", f"not a decision ({exc})", file, number) from None
        except (ValueError, RecursionError):  # ValueError: also an int of 4,300+ digits
            raise AuditError("invalid-decision", "not JSON (or nested too deeply)", file, number) from None
        if isinstance(data, Mapping) and "decision" in data and "trace" not in data:
            data = data["decision"]
        if not isinstance(data, Mapping):  # `"x"` would be read as JSON text again, `[]` as fields
            message = f"not a decision: a JSON object is expected, got {json_kind(data)}"
            raise AuditError("invalid-decision", message, file, number)
        try:
            yield parse_decision(data)
        except AuditError as error:
            raise AuditError("invalid-decision", error.message, file, number) from None
