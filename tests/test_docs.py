"""The examples in README.md and docs/ run: Python blocks execute, complete policy files load."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import csrules
from tests.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for i, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            if match.group(1) == language:
                found.append((f"{path.name}#{i}", match.group(2)))
    return found


PYTHON = blocks("python")
POLICIES = [(name, text) for name, text in blocks("yaml") if re.search(r"^rules:", text, re.M)]


@pytest.mark.parametrize(("name", "code"), PYTHON, ids=[n for n, _ in PYTHON])
def test_python_examples_run(name: str, code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # an example's `tempfile.mkdtemp()` is cleaned
    exec(compile(code, name, "exec"), {"__name__": "docs_example"})  # our own docs, nothing from outside


@pytest.mark.parametrize(("name", "text"), POLICIES, ids=[n for n, _ in POLICIES])
def test_policy_examples_load(name: str, text: str, tmp_path: Path) -> None:
    (tmp_path / "example.yaml").write_text(text, encoding="utf-8")
    assert csrules.load(tmp_path).bundle.rules


def test_there_are_examples_to_check() -> None:
    assert len(PYTHON) >= 2
    assert POLICIES


CASES = [(name, text) for name, text in blocks("yaml") if re.search(r"^cases:", text, re.M)]


@pytest.mark.parametrize(("name", "text"), CASES, ids=[n for n, _ in CASES])
def test_case_examples_pass_against_the_default_bundle(name: str, text: str, tmp_path: Path) -> None:
    from csrules.testing.cases import load_cases, run_cases  # noqa: PLC0415 - only this test needs it

    path = tmp_path / "example.cases.yaml"
    path.write_text(re.sub(r"^policies:.*$", "", text, flags=re.M), encoding="utf-8")
    results = run_cases(load_cases([path]))
    assert results
    assert all(r.passed for r in results), [r.mismatches for r in results]
