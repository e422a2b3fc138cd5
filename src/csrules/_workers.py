"""Worker processes that answer payloads in the order they were sent: the process pool behind
`csrules diff --workers` (impact.evaluate_corpus) and `Engine.evaluate_many(workers=N)`.

Why not `multiprocessing.Pool` or `concurrent.futures.ProcessPoolExecutor`: their workers share
queues guarded by locks between processes, and a worker that dies holding one (killed by
`Pool.terminate()`, by Ctrl-C handling, by the OOM killer, by a crash in the C engine) leaves the
others, and the parent's threads, blocked on it. `Pool` also loses the task of a worker that died
and waits for its result forever, and restarts a worker whose initializer fails, forever.
`ProcessPoolExecutor` starts its processes one `submit` at a time, with Ctrl-C live in them.

Here each worker has two pipes of its own (payloads in, answers out), and nothing else is shared:
stopping a worker, or losing one, can block no one.
- A worker starts at the `submit` that first needs it (an empty input starts none; a single
  payload starts one; the `count`th payload the last), each from a thread of its own with every
  signal blocked: a worker inherits the mask and drops a Ctrl-C
  sent to the whole process group (a terminal's) before it unblocks its signals, so Ctrl-C is the
  caller's alone; and since Python runs signal handlers in the main thread only, none can raise
  between the start of a process and its being recorded here (the caller waits for the start to
  end, then raises the handler's exception).
- The parent pickles each payload when it is submitted (an error is raised there) and one sender
  thread writes them, in order, round robin: `submit` never blocks on a full pipe.
- `result()` reads the answer to the oldest payload from its worker, or the worker's end: a worker
  that died is an EngineError naming how it ended, never a wait without end. An exception raised
  meanwhile by a signal handler (KeyboardInterrupt, a deadline's TimeoutError) is raised as it is.
- `close()` (or leaving the `with` block) kills the workers at once (SIGKILL): they hold nothing
  that needs an orderly end, and no lock another process could wait on. They are daemonic: they
  do not outlive the parent's interpreter, and one whose parent was killed ends at its next read
  or write.

One thread uses a `Workers`, and after any exception from it, closes it: it is not thread-safe.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterable
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from .errors import EngineError

__all__ = ["Workers"]

_STOP_GRACE = 5.0
"""Seconds to wait for the sender thread, or for a worker that ended to be reaped."""


_Target = tuple[Callable[[Any], Any], Callable[..., None], tuple[Any, ...]]
"""What a worker runs: (function, initializer, initargs)."""


def _serve(
    payloads: Connection, answers: Connection, target: _Target, mask: Iterable[signal.Signals]
) -> None:
    """A worker process: answer every payload until the parent closes its end or is gone. An
    answer is (True, value) or (False, why): the parent raises the latter as an EngineError."""
    function, initializer, initargs = target
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C pending since the start is dropped
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # the parent's mask before it started us
    failure: str | None = None
    try:
        initializer(*initargs)
    except Exception as exc:  # reported with the first answer: the parent then stops every worker
        failure = f"it could not start: {type(exc).__name__}: {exc}"
    with contextlib.suppress(EOFError, OSError):  # the parent is done with us, or gone
        while True:
            data = payloads.recv_bytes()
            answer: tuple[bool, Any]
            if failure is not None:
                answer = (False, failure)
            else:
                try:
                    answer = (True, function(pickle.loads(data)))
                except Exception as exc:  # a bug, or a payload this process cannot rebuild
                    answer = (False, f"{type(exc).__name__}: {exc}")
            try:
                data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                data = pickle.dumps((False, f"its answer could not be sent back: {exc}"))
            answers.send_bytes(data)


class _Worker:
    """One worker process and the parent's ends of its two pipes."""

    __slots__ = ("answers", "payloads", "process")

    def __init__(self, process: BaseProcess, payloads: Connection, answers: Connection) -> None:
        self.process = process
        self.payloads = payloads
        self.answers = answers

    def ended(self) -> str:
        """How the process ended, for a message."""
        self.process.join(_STOP_GRACE)
        code = self.process.exitcode
        if code is None:
            return "it closed its pipe"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"it was stopped by {name}"
        return f"it exited with code {code}"


class Workers:
    """`count` spawned processes, each running `initializer(*initargs)` once, then answering each
    payload with `function(payload)`; answers come back in the order payloads were submitted.

    `function` and `initializer` must be module-level functions, and payloads and answers
    picklable (spawn: a worker imports them by name).
    """

    def __init__(
        self,
        count: int,
        function: Callable[[Any], Any],
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if count < 1:
            raise ValueError(f"a pool needs at least one worker, got `{count}`")
        self._count = count
        self._target: _Target = (function, initializer, initargs)
        self._workers: list[_Worker] = []
        self._waiting: collections.deque[_Worker] = collections.deque()  # oldest payload first
        self._submitted = 0
        self._closed = False
        self._outbox: queue.SimpleQueue[tuple[Connection, bytes] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="csrules-workers-sender", daemon=True)

    @property
    def pending(self) -> int:
        """Payloads submitted whose answer was not read yet."""
        return len(self._waiting)

    def submit(self, payload: Any) -> None:
        """Send `payload` to the next worker in turn (the first call starts the workers); returns
        at once: the sender thread writes it.

        Raises:
            ValueError: the pool is closed.
            pickle.PicklingError, TypeError: the payload does not pickle.
            EngineError: the worker processes could not be started (too many open files...).
        """
        if self._closed:
            raise ValueError("the worker processes were stopped")
        data = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
        turn = self._submitted % self._count
        if turn == len(self._workers):  # the first payload for this worker: start it
            self._start()
        worker = self._workers[turn]
        self._submitted += 1
        self._waiting.append(worker)
        self._outbox.put((worker.payloads, data))

    def result(self) -> Any:
        """The answer to the oldest payload whose answer was not read yet; waits for it.

        Raises:
            EngineError: its worker failed on it, could not start, or ended without answering.
            ValueError: the pool is closed. IndexError: nothing is pending.
        """
        if self._closed:
            raise ValueError("the worker processes were stopped")
        worker = self._waiting[0]  # still pending until read: an interrupt here leaves it so
        wait([worker.answers, worker.process.sentinel])  # an answer, or its worker's end
        try:
            data = worker.answers.recv_bytes()
        except (EOFError, OSError) as exc:
            # Its end of the pipe closed (it ended): before an answer (EOFError) or during one
            # (multiprocessing's own OSError). Any other exception, such as a deadline's
            # TimeoutError raised by a signal handler, is the caller's.
            if isinstance(exc, EOFError) or str(exc) == "got end of file during message":
                raise EngineError(f"a worker process failed: {worker.ended()}") from exc
            raise
        self._waiting.popleft()
        ok, value = pickle.loads(data)
        if not ok:
            raise EngineError(f"a worker process failed: {value}")
        return value

    def close(self) -> None:
        """Stop every worker at once (SIGKILL; they keep nothing that needs an orderly end).
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:  # first: a second Ctrl-C cutting this short leaves no worker
            worker.process.kill()
        self._outbox.put(None)  # the sender ends after the payload in hand (its worker is gone)
        if self._sender.is_alive():
            # Bounded: a daemon thread no longer runs once the interpreter is finalizing (an
            # iterator left open in a global is closed then), and would never be joined.
            self._sender.join(_STOP_GRACE)
        sender_ended = not self._sender.is_alive()
        for worker in self._workers:
            worker.process.join(_STOP_GRACE)  # reaped; multiprocessing forgets it at its next look
            if sender_ended:  # else the sender may still write to it: garbage collection closes it
                worker.payloads.close()
            worker.answers.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        """Start the next worker from a thread of its own with every signal blocked (see the
        module's notes), and wait for it; on any failure, none is left running."""
        failed: list[Exception] = []
        done = threading.Event()  # not Thread.join: interrupted, it can return before the thread ends
        # Whoever takes `claim` first decides whether workers are spawned. A signal handler's
        # exception can leave `Thread.start` before or after the thread exists; taking the claim
        # tells which: the starter, once it holds it, always ends by setting `done`.
        claim = threading.Lock()
        starter = threading.Thread(
            target=self._spawn, args=(claim, failed, done), name="csrules-workers-start", daemon=True
        )
        try:
            starter.start()
            done.wait()
        except BaseException:  # a signal handler's exception: the spawning itself runs on
            if not claim.acquire(blocking=False):  # the starter spawns: let it finish, then stop all
                done.wait()
            self.close()
            raise
        if failed:
            self.close()
            raise EngineError(f"the worker processes could not start: {failed[0]}") from failed[0]
        if len(self._workers) == 1:
            self._sender.start()

    def _spawn(self, claim: threading.Lock, failed: list[Exception], done: threading.Event) -> None:
        """The starter thread of one worker. Python runs signal handlers in the main thread only,
        so nothing interrupts this between the start of a process and its being recorded."""
        if not claim.acquire(blocking=False):  # the caller gave up before this thread ran
            return
        try:
            resource_tracker.ensure_running()  # it unblocks SIGINT and SIGTERM when it starts itself
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # the caller's
            context = multiprocessing.get_context("spawn")
            payloads_in, payloads_out = context.Pipe(duplex=False)
            answers_in, answers_out = context.Pipe(duplex=False)
            process = context.Process(
                target=_serve,
                args=(payloads_in, answers_out, self._target, mask),
                name=f"csrules-worker-{len(self._workers) + 1}",
                daemon=True,
            )
            try:
                process.start()
            finally:
                # The worker's ends: a pipe whose worker ended must read as closed here.
                payloads_in.close()
                answers_out.close()
            self._workers.append(_Worker(process, payloads_out, answers_in))
        except Exception as exc:  # out of processes or file descriptors, initargs that do not pickle
            failed.append(exc)
        finally:
            done.set()

    def _send(self) -> None:
        """The sender thread: write each payload to its worker, in the order submitted."""
        while (item := self._outbox.get()) is not None:
            connection, data = item
            with contextlib.suppress(OSError):  # its worker ended: `result()` reports how
                connection.send_bytes(data)
