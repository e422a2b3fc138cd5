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
the main thread, also while a pause is recorded or ended. A pause is recorded inside the `try`
whose `finally` ends it; an end cut short heals: a thread has one pause at a time, recorded by its
ident, so the thread's next pause takes over a record its last one left, and whether to switch the
collector back on is kept until a pause's end has done so.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["paused"]

_lock = threading.Lock()
_pauses: set[int] = set()  # the threads whose pause is in progress
_restore = [False]  # whether the collector was on when the first of them began (until switched back on)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then on again once no pause is left if it was on before
    the first (however the block ends)."""
    me = threading.get_ident()
    try:
        with _lock:
            if not _pauses:  # True already: an end cut short after its record went, before it switched
                _restore[0] = _restore[0] or gc.isenabled()
            _pauses.add(me)
            gc.disable()
        yield
    finally:
        with _lock:
            _pauses.discard(me)
            if not _pauses:
                if _restore[0]:
                    gc.enable()
                _restore[0] = False
