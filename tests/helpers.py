"""Helpers shared by the tests: ticket builders, the fixed `now`, policy files."""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# One directory per test run for what cannot use pytest's tmp_path (hypothesis strategies,
# module-level engines), made at the first use: worker processes that import this module (and
# are killed, not ended) make none. Its finalizer removes it, and all under it, when the run ends.
_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []

BASE_TICKET: dict[str, Any] = {
    "id": "T-1",
    "customer": {"id": "C-1"},
    "agent": {"id": "A-1", "role": "front_line"},
}


def make_ticket(**parts: Any) -> dict[str, Any]:
    """A valid ticket: BASE_TICKET with top-level parts replaced (None removes a part)."""
    ticket = copy.deepcopy(BASE_TICKET)
    for key, value in parts.items():
        if value is None:
            ticket.pop(key, None)
        else:
            ticket[key] = value
    return ticket


def refund(amount: str, *, role: str = "front_line", **customer: Any) -> dict[str, Any]:
    """A refund ticket for `amount` by an agent of `role`."""
    return make_ticket(
        customer={"id": "C-1", **customer},
        agent={"id": "A-1", "role": role},
        request={"kind": "refund", "amount": amount},
    )


def run_cli(
    *args: str, stdin: str | None = None, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m csrules ARGS` from the repository's root (or `cwd`), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "csrules", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )


def scratch_dir(prefix: str) -> Path:
    """A new directory under the run's scratch directory, removed when the test run ends."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="csrules-tests-"))
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH[0].name))


def write_policy(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class Zone(tzinfo):
    """A caller's tzinfo whose offset is whatever it is given (a str, 30 hours), or raises."""

    def __init__(self, offset: Any) -> None:
        self.offset = offset

    def utcoffset(self, dt: datetime | None) -> Any:
        if isinstance(self.offset, Exception):
            raise self.offset
        return self.offset

    def __repr__(self) -> str:
        return "Zone()"


class Float64(float):
    """numpy's float64 in its manners: a repr that is not a number."""

    def __repr__(self) -> str:
        return f"np.float64({float.__repr__(self)})"


class LyingInt(int):
    """An int whose comparisons lie and whose text is not a number."""

    def __lt__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return True

    def __str__(self) -> str:
        return "many"


def _not_rebuilt() -> None:
    raise RuntimeError("not rebuilt in another process")


class NotRebuilt:
    """Pickles, but raises when unpickled: what a worker process cannot rebuild."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _not_rebuilt, ()


def unrebuildable(engine: Any) -> Any:
    """An Engine like `engine` whose compiled bundle pickles but cannot be unpickled."""
    import dataclasses  # noqa: PLC0415

    import csrules  # noqa: PLC0415

    compiled = engine._compiled
    return csrules.Engine(
        dataclasses.replace(compiled, rules_by_id={**compiled.rules_by_id, "x": NotRebuilt()})
    )
