"""Python's cyclic garbage collector paused while csrules makes many objects at once.

Loading a bundle of 5,000 rules makes millions of objects; the collector, triggered again and again
as they are made, walks them, and every object alive in the process (a service's Engine still in
use during a reload among them) at each full collection: a third of a reload's time
(docs/performance.md, "Rule count"). Paused, it sees them once, after. Neither a load nor a chunk of
results from a worker process leaves a reference cycle to collect.

The collector is process-wide: while paused, other threads' cyclic garbage waits too (reference
counting still frees the rest), for as long as the load takes. Pauses of several threads overlap:
the collector is off from the start of the first to the end of the last, then on again only if it
was on before the first (a caller that turned it off keeps it off).

An exception a signal handler raises (Ctrl-C, a request timeout) lands between two bytecodes, in
the main thread, also while a pause is recorded or ended; the handler itself may load (a reload
on SIGHUP), in the middle of either. So no lock (the handler would wait for its own thread), and
each step is one operation the interpreter does at once, in an order in which any cut is safe:
- a pause is recorded (its thread's ident, in a set) before the collector is switched off, inside
  the `try` whose `finally` ends it;
- a pause that finds the collector on notes so, and leaves a mark; the end that switches it back
  on (one that found it on, or that sees marks) removes the marks it saw before it did, and only
  those: a pause starting meanwhile in another thread (which then finds it on) keeps its own;
- an end cut short before its record went is finished by the thread's next pause (a retried
  load); one cut short after leaves marks, which the next end of any pause acts on.
A pause inside a pause of the same thread (a handler's) ends both records: the collector may come
back on before the outer one ends, which costs time, never memory.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import threading
from collections.abc import Iterator

__all__ = ["paused"]

_pauses: set[int] = set()  # the threads whose pause is in progress
_found_on: set[int] = set()  # a mark per pause that found the collector on, until switched back on
_marks = itertools.count()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then on again once no pause is left if it was on before
    the first (however the block ends)."""
    me = threading.get_ident()
    found_on = False  # this pause's own account: a handler's pause may end meanwhile and take the marks
    try:
        _pauses.add(me)
        found_on = gc.isenabled()
        if found_on:
            _found_on.add(next(_marks))
        gc.disable()
        yield
    finally:
        _pauses.discard(me)
        if not _pauses and (found_on or _found_on):
            seen = set(_found_on)
            gc.enable()
            _found_on.difference_update(seen)
