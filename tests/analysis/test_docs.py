"""docs/analysis.md and analyze.py agree: one section per warning code, and each section's
example policy gets exactly that warning."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import csrules
from tests.helpers import ROOT

DOC = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
SECTIONS = dict(re.findall(r"^### `([a-z0-9-]+)`\n(.*?)(?=^### |\Z)", DOC, re.S | re.M))


def _codes_in_source() -> set[str]:
    tree = ast.parse((ROOT / "src" / "csrules" / "analyze.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and ast.unparse(node.func) == "_warning"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_warning_code_has_a_section_in_the_docs() -> None:
    used = _codes_in_source()
    assert len(used) == 6
    assert used == set(SECTIONS), (
        f"undocumented: {sorted(used - set(SECTIONS))}; stale: {sorted(set(SECTIONS) - used)}"
    )


@pytest.mark.parametrize("code", sorted(SECTIONS))
def test_each_section_example_gets_its_warning(code: str, tmp_path: Path) -> None:
    policy = re.search(r"^```yaml\n(.*?)^```", SECTIONS[code], re.S | re.M)
    assert policy is not None, f"section `{code}` has no example policy"
    (tmp_path / "example.yaml").write_text(policy.group(1), encoding="utf-8")
    assert [w.code for w in csrules.analyze(csrules.load(tmp_path))] == [code]
