"""The garbage collector's pause during `load()` (csrules._collector): overlapping pauses of several
threads, and a pause whose start or end an exception cut short. The interleavings are forced here;
test_interrupts.py lands real signals in `load()`."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

import csrules
from csrules import _collector
from tests.helpers import ROOT


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


@pytest.mark.parametrize("first", ["other thread", "this thread"])
def test_the_collector_stays_off_until_the_last_of_overlapping_pauses_ends(first: str) -> None:
    """Two threads' loads overlapping: the first to end switched the collector on while the other
    still made its objects; one that began while another was paused left it off for good."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _collector.paused():
            entered.set()
            release.wait(10)

    other = threading.Thread(target=hold)
    if first == "other thread":
        other.start()
        assert entered.wait(10)
        with _collector.paused():
            assert not gc.isenabled()
    else:
        with _collector.paused():
            other.start()
            assert entered.wait(10)
    assert not gc.isenabled()  # the other thread's pause goes on
    release.set()
    other.join(10)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_the_caller_switched_off_as_it_was() -> None:
    gc.disable()
    csrules.load()
    assert not gc.isenabled()
    gc.enable()
    csrules.load()
    assert gc.isenabled()


class _Interrupt(BaseException):
    pass


def test_an_interrupt_right_after_the_collector_was_switched_off_switches_it_back_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal landing just after `gc.disable()`, before the `try`, left it off for good."""
    real = gc.disable

    def disable_then_interrupt() -> None:
        real()
        raise _Interrupt

    monkeypatch.setattr(gc, "disable", disable_then_interrupt)
    with pytest.raises(_Interrupt):
        csrules.load()
    assert gc.isenabled()


def test_a_pause_whose_end_was_cut_short_is_ended_by_the_threads_next_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An interrupt landing in the end itself, before the collector is switched on (here, as it
    is): the next pause of the thread (a retried load) switches it back on at its end."""
    real = gc.enable

    def interrupted() -> None:
        monkeypatch.setattr(gc, "enable", real)
        raise _Interrupt

    monkeypatch.setattr(gc, "enable", interrupted)
    with pytest.raises(_Interrupt):
        csrules.load()
    assert not gc.isenabled()
    csrules.load()
    assert gc.isenabled()


def test_a_pause_inside_a_pause_of_the_same_thread_leaves_the_collector_on_after_both() -> None:
    # The second ends first, inside the first: it may switch the collector on already (a
    # handler's load inside a load: time, not memory).
    with _collector.paused(), _collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


_RELOAD_IN_A_HANDLER = """
import faulthandler, gc, signal, sys, time
import csrules
from csrules import _collector
faulthandler.dump_traceback_later(20, exit=True)  # a hang ends the run (exit 1), with the stacks
busy = False
def reload(signum, frame):  # as `csrules.load()` pauses: the pause is all that matters here
    global busy
    if not busy:
        busy = True
        try:
            with _collector.paused():
                pass
        finally:
            busy = False
signal.signal(signal.SIGALRM, reload)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:  # pauses back to back: the handler lands in their bookkeeping
    with _collector.paused():
        pass
signal.setitimer(signal.ITIMER_REAL, 0)
csrules.load()
assert gc.isenabled()
"""


def test_a_signal_handler_that_reloads_during_a_load_neither_hangs_nor_leaves_the_collector_off() -> None:
    """With a lock around the pause's bookkeeping, a handler's load (a reload on SIGHUP) landing
    inside it waited for its own thread: the process hung."""
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD_IN_A_HANDLER, "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
