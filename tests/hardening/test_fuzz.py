"""Fuzzing: whatever a caller sends, only TicketError escapes `evaluate`, only PolicyError escapes
`load`, both within bounded time, and the engine stays usable and exact afterwards.

Sizes here keep `make test` quick; `make soak` runs the same tests with CSRULES_FUZZ_SCALE=20,
twenty times as many examples each.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import csrules
from csrules.testing.strategies import tickets
from csrules.ticket import Agent, Request
from tests.helpers import NOW, ROOT, Float64, LyingInt, Zone, refund

SCALE = int(os.environ.get("CSRULES_FUZZ_SCALE", "1"))  # examples per test, times this
ENGINE = csrules.load()
BASELINE = ENGINE.evaluate(refund("45.00"), now=NOW).to_json()
POLICY_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "policies").glob("*.yaml"))}

# JSON-ish values, the unusual ones included: huge and tiny numbers, NaN and infinities (a Python
# caller can pass them), long strings, lone surrogates, nesting.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.1, 1e308, -0.0, 5e-324, 2**53 + 1, "1e400", "NaN", "-0", "20.001", "0x10"]),
    st.text(max_size=50),
    st.sampled_from(["\ud800", "a" * 100_000, "\x00", "é", "e\u0301", "<script>"]),
)


class _Raising:
    """An object of a caller's whose conversions raise (its repr works: hypothesis shows it)."""

    def __str__(self) -> str:
        raise RuntimeError("no text")

    def __repr__(self) -> str:
        return "_Raising()"


class _Text(str):
    pass


class _Make:
    """A value drawn by name and made in the test: hypothesis compares and hashes what it draws,
    which some of these refuse (a tzinfo that raises)."""

    def __init__(self, name: str, make: Callable[[], Any]) -> None:
        self.name, self.make = name, make

    def __repr__(self) -> str:
        return self.name


# What a Python caller may pass that JSON never holds: models made without validation, objects
# whose conversions raise, odd tzinfos, subclasses, Decimals, dates.
python_objects = st.sampled_from(
    [
        _Make("bad-request-model", lambda: Request.model_construct(kind="refund", amount=Decimal("-5"))),
        _Make("bad-agent-model", lambda: Agent.model_construct(id="A", role="boss")),
        _Make("bad-ticket-model", lambda: csrules.Ticket.model_construct(id="x")),
        _Make("raising-str", _Raising),
        _Make("raising-tzinfo", lambda: datetime(2026, 1, 1, tzinfo=Zone(RuntimeError("offset")))),
        _Make("str-tzinfo", lambda: datetime(2026, 1, 1, tzinfo=Zone("+01:00"))),
        _Make("30h-tzinfo", lambda: datetime(2026, 1, 1, tzinfo=Zone(timedelta(hours=30)))),
        _Make("1899-in-utc", lambda: datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
        _Make("str-subclass", lambda: _Text("45.00")),
        _Make("float64-tiny", lambda: Float64(1e-05)),
        _Make("float64", lambda: Float64(45.5)),
        _Make("lying-int", lambda: LyingInt(2**60)),
        _Make("lying-small-int", lambda: LyingInt(30)),
        _Make("minus-zero", lambda: Decimal("-0")),
        _Make("snan", lambda: Decimal("sNaN")),
        _Make("date", lambda: date(2026, 1, 1)),
        _Make("tuple", lambda: (1, 2)),
        _Make("tuple-key", lambda: {(1, 2): 1}),
        _Make("newline-key", lambda: {"a\nb": 1}),
        _Make("surrogate-key", lambda: {"\ud800": 1}),
    ]
)


def _made(value: Any) -> Any:
    if isinstance(value, _Make):
        return value.make()
    if isinstance(value, dict):
        return {key: _made(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_made(item) for item in value]
    return value


values = st.recursive(
    st.one_of(scalars, python_objects),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    return out


def _assert_usable() -> None:
    assert ENGINE.evaluate(refund("45.00"), now=NOW).to_json() == BASELINE


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets(), st.data())
def test_any_value_at_any_path_is_a_decision_or_a_ticket_error(
    ticket: dict[str, Any], data: st.DataObject
) -> None:
    mutated = copy.deepcopy(ticket)
    path = data.draw(st.sampled_from(_paths(mutated)))
    replacement = _made(data.draw(values))
    if not path:
        mutated = replacement
    else:
        holder = mutated
        for key in path[:-1]:
            holder = holder[key]
        if data.draw(st.booleans()):
            holder[path[-1]] = replacement
        else:
            holder[data.draw(st.text(max_size=12))] = replacement  # an extra key beside it
    outcome = _decide(mutated)
    if isinstance(outcome, csrules.TicketError):
        assert outcome.path == "" or outcome.path.startswith("/")
        assert outcome.code
    else:
        json.loads(outcome.to_json())  # a decision always has its JSON form
    _assert_usable()


def _decide(ticket: Any) -> csrules.Decision | csrules.TicketError:
    """The decision, or the TicketError; any other exception fails the test."""
    try:
        return ENGINE.evaluate(ticket, now=NOW)
    except csrules.TicketError as error:
        return error


@pytest.mark.parametrize(
    "ticket",
    [
        None,
        [],
        "T-1",
        {
            "id": "T",
            "customer": {"id": "C"},
            "agent": {"id": "A", "role": "front_line"},
            "request": {"kind": "refund", "amount": math.nan},
        },
        {
            "id": "T",
            "customer": {"id": "C"},
            "agent": {"id": "A", "role": "front_line"},
            "request": {"kind": "refund", "amount": math.inf},
        },
        {
            "id": "T",
            "customer": {"id": "C"},
            "agent": {"id": "A", "role": "front_line"},
            "request": {"kind": "refund", "amount": 10**400},
        },
        {"id": "x" * 1_000_000, "customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"}},
        {
            "id": "T",
            "customer": {"id": "C"},
            "agent": {"id": "A", "role": "front_line"},
            "attributes": {f"a{i}": i for i in range(10_000)},
        },
    ],
    ids=["none", "list", "string", "nan", "inf", "huge-int", "huge-id", "many-attributes"],
)
def test_pathological_tickets_are_ticket_errors_or_decisions(ticket: Any) -> None:
    assert isinstance(_decide(ticket), csrules.Decision | csrules.TicketError)
    _assert_usable()


def test_deeply_nested_ticket_values_are_refused_quickly() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = {"x": deep}
    started = time.perf_counter()
    with pytest.raises(csrules.TicketError):
        ENGINE.evaluate(
            {
                "id": "T",
                "customer": {"id": "C"},
                "agent": {"id": "A", "role": "front_line"},
                "attributes": {"n": deep},
            },
            now=NOW,
        )
    assert time.perf_counter() - started < 5  # a hang guard, not a benchmark
    _assert_usable()


def _load_text(tmp_path: Path, files: dict[str, str]) -> None:
    folder = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", errors="surrogatepass")
    started = time.perf_counter()
    problem = None
    try:
        csrules.load(folder)
    except csrules.PolicyError as error:
        problem = error
    assert problem is None or (problem.diagnostics and str(problem))
    assert time.perf_counter() - started < 30  # a hang guard, not a benchmark


@settings(
    max_examples=150 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_mutated_bundles_load_or_raise_policy_error(tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(POLICY_TEXTS)))
    lines = POLICY_TEXTS[name].splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "edit", "indent", "insert", "tag"]))
        if kind == "delete" and len(lines) > 1:
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        elif kind == "swap" and index + 1 < len(lines):
            lines[index], lines[index + 1] = lines[index + 1], lines[index]
        elif kind == "indent":
            lines[index] = " " + lines[index]
        elif kind == "tag" and ": " in lines[index]:  # a standard tag on whatever value follows
            tag = data.draw(
                st.sampled_from(
                    [
                        "!!timestamp",
                        "!!map",
                        "!!seq",
                        "!!str",
                        "!!float",
                        "!!int",
                        "!!null",
                        "!!bool",
                        "!!binary",
                    ]
                )
            )
            lines[index] = lines[index].replace(": ", f": {tag} ", 1)
        elif kind == "insert":
            lines.insert(
                index,
                data.draw(
                    st.sampled_from(
                        [
                            "&a [1]\n",
                            "*a\n",
                            "- !!python/object:os.system x\n",
                            "key: {gt: 1e999}\n",
                            "key: {eq: 0.1000000000000000000000000000000}\n",
                            "!!python/name:os.system key: 1\n",
                            "\t\n",
                            "---\n",
                        ]
                    )
                ),
            )
        else:
            line = lines[index]
            position = data.draw(st.integers(0, max(0, len(line) - 1)))
            lines[index] = line[:position] + data.draw(st.text(max_size=3)) + line[position + 1 :]
    _load_text(tmp_path, {**POLICY_TEXTS, name: "".join(lines)})
    _assert_usable()


@settings(
    max_examples=100 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        lambda i: st.one_of(
            st.lists(i, max_size=3),
            st.dictionaries(
                st.sampled_from(["rules", "when", "then", "id", "parameters", "derived", "invariants", "x"]),
                i,
                max_size=3,
            ),
        ),
        max_leaves=15,
    )
)
def test_random_yaml_documents_load_or_raise_policy_error(tmp_path: Path, document: Any) -> None:
    _load_text(tmp_path, {"p.yaml": json.dumps(document)})


@pytest.mark.parametrize(
    "text",
    [
        # a billion laughs: each alias level multiplies the document
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
        ),
        "rules: " + "[" * 5000 + "]" * 5000 + "\n",
        "rules: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "x: " + "y" * (2 << 20) + "\n",
        "rules: [" + ", ".join("{}" for _ in range(200_000)) + "]\n",
    ],
    ids=["alias-bomb", "deep-lists", "deep-maps", "too-large", "many-nodes"],
)
def test_hostile_yaml_is_a_policy_error_in_bounded_time_and_memory(tmp_path: Path, text: str) -> None:
    started = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(csrules.PolicyError) as info:
            _load_file(tmp_path, text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.code in {"document-too-large", "file-too-large"}, info.value
    assert time.perf_counter() - started < 30  # a hang guard: docs/language.md#limits has the figures
    # Python memory at its highest while loading: ~21 MiB for the alias bomb (which would expand
    # to 10**9 nodes), ~2 MiB for the others. A bound, not a benchmark.
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"


def _load_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    csrules.load([path])
