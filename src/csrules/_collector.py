"""Python's cyclic garbage collector paused while csrules makes many objects at once.

Loading a bundle of 5,000 rules makes millions of objects; the collector, triggered again and again
as they are made, walks them, and every object alive in the process (a service's Engine still in
use during a reload among them) at each full collection: a third of a reload's time
(docs/performance.md, "Rule count"). Paused, it sees them once, after. Neither a load nor a chunk of
results from a worker process leaves a reference cycle to collect.

The collector is process-wide: while paused, other threads' cyclic garbage waits too (reference
counting still frees the rest), for as long as the load takes. It is switched back on only if it was
on: a caller that turned it off keeps it off.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["paused"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then on again if it was on (however the block ends)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
