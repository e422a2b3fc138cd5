"""Worker processes that answer payloads in the order they were sent: the process pool behind
`csrules diff --workers` (impact.evaluate_corpus) and `Engine.evaluate_many(workers=N)`.

Why not `multiprocessing.Pool` or `concurrent.futures.ProcessPoolExecutor`: their workers share
queues guarded by locks between processes, and a worker that dies holding one (killed by
`Pool.terminate()`, by Ctrl-C handling, by the OOM killer, by a crash in the C engine) leaves the
others, and the parent's threads, blocked on it. `Pool` also loses the task of a worker that died
and waits for its result forever, and restarts a worker whose initializer fails, forever.
`ProcessPoolExecutor` starts its processes one `submit` at a time, so none can be started with
Ctrl-C ignored as a whole.

Here each worker has two pipes of its own (payloads in, answers out), and nothing else is shared:
stopping a worker, or losing one, can block no one.
- The parent pickles each payload when it is submitted (an error is raised there) and one sender
  thread writes them, in order, round robin; `submit` never blocks on a full pipe.
- `result()` reads the answer to the oldest payload from its worker, or the worker's end: a worker
  that died is an EngineError naming how it ended, never a wait without end.
- Every worker is started at once, with SIGINT ignored from its first instruction: a Ctrl-C sent
  to the whole process group (a terminal's) is the parent's alone to handle.
- `close()` (or leaving the `with` block) ends them: gracefully once every answer was read,
  otherwise at once (SIGTERM). Worker processes are daemonic: they do not outlive the parent.

One thread uses a `Workers`: it is not thread-safe.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, TypeVar

from .errors import EngineError

__all__ = ["Workers", "ignoring_ctrl_c"]

_T = TypeVar("_T")

_STOP_GRACE = 5.0
"""Seconds a worker has to end once its payload pipe is closed, before it is stopped."""


def ignoring_ctrl_c(start: Callable[[], _T]) -> _T:
    """`start()` (which starts processes) with SIGINT ignored, in the main thread: a process
    started then ignores it from its first instruction (an ignored signal stays ignored across
    exec, and Python then installs no KeyboardInterrupt handler), so a Ctrl-C sent to the whole
    process group while a worker still imports csrules prints no traceback of its. A Ctrl-C during
    `start()` itself (~40 ms a process) is lost: press it again."""
    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _serve(
    payloads: Connection,
    answers: Connection,
    function: Callable[[Any], Any],
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> None:
    """A worker process: answer every payload until the parent closes its end. An answer is
    (True, value) or (False, why): the parent raises the latter as an EngineError."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    failure: str | None = None
    try:
        initializer(*initargs)
    except Exception as exc:  # reported with the first answer: the parent then stops every worker
        failure = f"it could not start: {type(exc).__name__}: {exc}"
    while True:
        try:
            payload = pickle.loads(payloads.recv_bytes())
        except EOFError:  # the parent is done with us
            return
        answer: tuple[bool, Any]
        if failure is not None:
            answer = (False, failure)
        else:
            try:
                answer = (True, function(payload))
            except Exception as exc:  # a bug: the parent raises it as an EngineError
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
            raise ValueError(f"a pool needs at least one worker, got {count}")
        self._workers: list[_Worker] = []
        self._waiting: collections.deque[_Worker] = collections.deque()  # oldest payload first
        self._submitted = 0
        self._closed = False
        self._outbox: queue.SimpleQueue[tuple[Connection, bytes] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send, name="csrules-workers-sender", daemon=True)
        context = multiprocessing.get_context("spawn")

        def start() -> None:
            for number in range(count):
                payloads_in, payloads_out = context.Pipe(duplex=False)
                answers_in, answers_out = context.Pipe(duplex=False)
                process = context.Process(
                    target=_serve,
                    args=(payloads_in, answers_out, function, initializer, initargs),
                    name=f"csrules-worker-{number + 1}",
                    daemon=True,
                )
                try:
                    process.start()
                finally:
                    # The worker's ends: a pipe whose worker ended must read as closed.
                    payloads_in.close()
                    answers_out.close()
                self._workers.append(_Worker(process, payloads_out, answers_in))

        try:
            ignoring_ctrl_c(start)
            self._sender.start()
        except BaseException:
            self.close()
            raise

    @property
    def pending(self) -> int:
        """Payloads submitted whose answer was not read yet."""
        return len(self._waiting)

    def submit(self, payload: Any) -> None:
        """Send `payload` to the next worker in turn; returns at once (the sender thread writes it).

        Raises:
            ValueError: the pool is closed.
            pickle.PicklingError, TypeError: the payload does not pickle.
        """
        if self._closed:
            raise ValueError("the worker processes were stopped")
        data = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
        worker = self._workers[self._submitted % len(self._workers)]
        self._submitted += 1
        self._waiting.append(worker)
        self._outbox.put((worker.payloads, data))

    def result(self) -> Any:
        """The answer to the oldest payload whose answer was not read yet; waits for it.

        Raises:
            EngineError: its worker failed on it, could not start, or ended without answering.
            IndexError: nothing is pending.
        """
        worker = self._waiting.popleft()
        try:
            wait([worker.answers, worker.process.sentinel])  # an answer, or its worker's end
            ok, value = pickle.loads(worker.answers.recv_bytes())
        except (EOFError, OSError):
            raise EngineError(f"a worker process failed: {worker.ended()}") from None
        if not ok:
            raise EngineError(f"a worker process failed: {value}")
        return value

    def close(self) -> None:
        """Stop every worker: gracefully when every answer was read, otherwise at once. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._outbox.put(None)  # the sender ends after the payload in hand
        if self._waiting:  # answers no one will read: stop the workers now (they unblock the sender)
            for worker in self._workers:
                worker.process.terminate()
        if self._sender.is_alive():
            # Bounded: a daemon thread no longer runs once the interpreter is finalizing (an
            # iterator left open in a global is closed then), and would never be joined.
            self._sender.join(_STOP_GRACE)
        for worker in self._workers:
            worker.payloads.close()  # the worker reads its end: it returns
        for worker in self._workers:
            worker.process.join(_STOP_GRACE)
            if worker.process.exitcode is None:
                worker.process.terminate()
                worker.process.join()
            worker.answers.close()
            worker.process.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _send(self) -> None:
        """The sender thread: write each payload to its worker, in the order submitted."""
        while (item := self._outbox.get()) is not None:
            connection, data = item
            with contextlib.suppress(OSError):  # its worker ended: `result()` reports how
                connection.send_bytes(data)
