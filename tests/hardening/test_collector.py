"""The garbage collector's pause during `load()` (csrules._collector): overlapping pauses of several
threads, and a pause whose start or end an exception cut short. The interleavings are forced here;
test_interrupts.py lands real signals in `load()`."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

import csrules
from csrules import _collector


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
