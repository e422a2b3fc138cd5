"""Helpers of the impact tests: policy copies with one parameter changed, corpora, the CLI in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from csrules.cli.main import main
from tests.helpers import ROOT


def policies_with(directory: Path, **defaults: int) -> Path:
    """A copy of the default bundle under `directory/policies` with parameter defaults changed."""
    target = directory / "policies"
    target.mkdir(parents=True)
    for source in sorted((ROOT / "policies").glob("*.yaml")):
        text = source.read_text(encoding="utf-8")
        for name, value in defaults.items():
            pattern = re.compile(rf"(^  {name}:\n(?:    .*\n)*?    default: )\S+$", re.M)
            text, count = pattern.subn(rf"\g<1>{value}", text)
            assert count <= 1
        (target / source.name).write_text(text, encoding="utf-8")
    texts = "".join(p.read_text(encoding="utf-8") for p in target.glob("*.yaml"))
    for name, value in defaults.items():
        assert re.search(rf"^  {name}:\n(?:    .*\n)*?    default: {value}$", texts, re.M), name
    return target


def write_corpus(path: Path, records: Iterable[Any]) -> Path:
    """One JSON value per line (a str is written as it is)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def diff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `csrules diff ARGS` in this process: (exit code, stdout, stderr)."""
    code = main(["diff", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def diff_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """The JSON report of `csrules diff ARGS --format json` (exit 0 or 1)."""
    code, out, err = diff(capsys, *args, "--format", "json")
    assert code in (0, 1), err
    report: dict[str, Any] = json.loads(out)
    return report


def transitions(report: dict[str, Any]) -> dict[str, int]:
    """{transition key: tickets} of a JSON report."""
    return {t["transition"]: t["tickets"] for t in report["transitions"]}
