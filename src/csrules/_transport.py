"""What crosses between `evaluate_many`'s parent and its worker processes, one message per chunk.

Tickets go out only as plain data (`TicketChunk`): JSON values, Decimals, dates and datetimes,
csrules' own models. Anything else (a lambda, a str subclass defined in `__main__`, a tzinfo of
the caller's) might not pickle, or not unpickle in a spawned worker, which breaks the whole
pool: such a ticket is refused (`Foreign`) and decided in the parent instead, with the same
results. Each ticket is pickled when it is read, so a chunk holds each ticket as it was then, as
deciding it at once would see it (an input that reuses one dict for every row, as some database
cursors do, gives its rows, not the last row N times).

Results come back with each pydantic record as its class and its values.

The parent rebuilds each record the way evaluation built it (trace.rebuild, through
trace.recorder: the four slots every pydantic instance has, no validation), not through
pydantic's own pickling (a Python `__setstate__` per record) nor by validating JSON again (~50
nested records per traced decision, JsonValue checked value by value): docs/performance.md
measures the three.

INVARIANT: only the parent's own worker processes (spawned by it, the Engine rebuilt from the
same policy files and checked against the parent's digest) produce what `unpack` reads; it is
never given data from anywhere else. The records are the worker's own, already validated.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from pydantic import BaseModel

from ._collector import paused
from .trace import field_names, rebuild

__all__ = ["Foreign", "TicketChunk", "pack", "unpack", "unpack_tickets"]


class Foreign(Exception):
    """A chunk of tickets holds an object a worker process might not rebuild."""


# Modules whose classes and functions a spawned worker can always import, and which the pickles
# of JSON values, Decimals, dates, datetimes (UTC offsets) and csrules' models refer to.
# Whole names, or packages by their prefix with its dot: `datetime_ext` is not `datetime`.
_KNOWN = frozenset({"decimal", "datetime", "copyreg"})
_KNOWN_PACKAGES = ("csrules.", "pydantic.", "pydantic_core.")


def _known(module: object) -> bool:
    return isinstance(module, str) and (module in _KNOWN or module.startswith(_KNOWN_PACKAGES))


class _TicketPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Called for everything but plain str, int, float, bool, None, list, tuple, dict, set:
        # an object, or a class or function pickled by its name.
        named = isinstance(obj, type) or callable(obj)
        if _known(getattr(obj, "__module__", None) if named else type(obj).__module__):
            return NotImplemented
        raise Foreign(type(obj).__qualname__)


class TicketChunk:
    """A chunk of tickets for a worker process, each pickled as it is added: one pickle per
    ticket, one after the other (`unpack_tickets`)."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._pickler = _TicketPickler(self._buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self.count = 0

    def add(self, ticket: Any) -> None:
        """Add `ticket` as it is now.

        Raises:
            Foreign: the ticket holds something a worker process might not rebuild; the chunk is
                left as it was.
            OSError, MemoryError: raised meanwhile (a signal handler's TimeoutError), as they are;
                the chunk is left as it was.
        """
        mark = self._buffer.tell()
        try:
            self._pickler.dump(ticket)
        except Exception as exc:  # Foreign, RecursionError (deep nesting), PicklingError...
            self._buffer.seek(mark)
            self._buffer.truncate()
            if isinstance(exc, OSError | MemoryError):
                # Not the ticket's doing (`reducer_override` refuses any object of the caller's
                # before its own code runs): a deadline's TimeoutError a signal handler raised
                # meanwhile, which deciding the ticket here would swallow, or no memory left.
                raise
            raise exc if isinstance(exc, Foreign) else Foreign(type(exc).__name__) from None
        finally:
            self._pickler.clear_memo()  # no reference to an earlier ticket: each one whole
        self.count += 1

    def getvalue(self) -> bytes:
        """The chunk's bytes, for `unpack_tickets` in a worker process."""
        return self._buffer.getvalue()


def unpack_tickets(data: bytes) -> list[Any]:
    """A `TicketChunk`'s tickets again, in a worker process (from its own parent only)."""
    buffer = io.BytesIO(data)
    tickets: list[Any] = []
    while buffer.tell() < len(data):
        # One unpickler per ticket, as `add` starts each pickle with an empty memo: a shared one
        # would resolve a ticket's back-references to objects of the tickets before it.
        tickets.append(pickle.Unpickler(buffer).load())
    return tickets


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Called for each object that is not a plain str, int, float, list, tuple or dict (those
        # stay in the C pickler): records are reduced to (class, values, fields set).
        if isinstance(obj, BaseModel) and obj.__pydantic_extra__ is None and obj.__pydantic_private__ is None:
            cls = type(obj)
            fields_set = obj.__pydantic_fields_set__
            if len(fields_set) == (_field_counts.get(cls) or _field_count(cls)):
                return rebuild, (cls, obj.__dict__)
            return rebuild, (cls, obj.__dict__, fields_set)
        return NotImplemented


# Each record class's number of fields (`trace.field_names`), looked up in C per record: a Python
# call per record costs 2% of packing and unpacking a traced decision.
_field_counts: dict[type[BaseModel], int] = {}


def _field_count(cls: type[BaseModel]) -> int:
    count = _field_counts[cls] = len(field_names(cls))
    return count


def pack(results: list[Any]) -> bytes:
    """A worker's results for one chunk as bytes; records shared within the chunk stay shared."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(results)
    return buffer.getvalue()


def unpack(data: bytes) -> list[Any]:
    """`pack`'s results again. Only for bytes `pack` made in a worker process of this one."""
    # The collector stays off while one chunk's ~10,000 objects are made (it would walk them again
    # and again as they are made) and sees them once after: a chunk holds no reference cycle.
    with paused():
        results: list[Any] = pickle.loads(data)  # our own worker's output (module docstring)
    return results
