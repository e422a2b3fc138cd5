"""The Markdown report of `csrules diff` (a pull-request comment), as a snapshot.

Regenerate with `make golden` (pytest --update-golden) and review the diff like code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.golden.test_golden import HERE, check
from tests.impact.support import policies_with, write_corpus

TICKETS = [
    {"id": "T-1", "severity": "normal", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
     "request": {"kind": "refund", "amount": "22.00"}},
    {"id": "T-2", "severity": "normal", "customer": {"id": "C-2"}, "agent": {"id": "A-1", "role": "front_line"},
     "request": {"kind": "refund", "amount": "40.00"}},
    {"id": "T-3", "channel": "in_store", "category": "stock", "customer": {"id": "C-3"},
     "agent": {"id": "A-2", "role": "front_line"}, "request": {"kind": "raincheck", "amount": "3.00"},
     "item": {"sku": "DELI-HAM", "on_sale": True, "in_stock": False, "regular_price": "8.99", "sale_price": "5.99"}},
    {"id": "T-4", "customer": {"id": "C-4", "tier": "loyal"}, "agent": {"id": "A-1", "role": "front_line"},
     "request": {"kind": "refund", "amount": "22.00"}},
    "{not json",
    {"ticket": {"id": "T-5", "severity": "normal", "customer": {"id": "C-5"}, "agent": {"id": "A-3", "role": "senior"},
                "request": {"kind": "refund", "amount": "24.00"}}, "now": "2026-11-23T15:00:00Z"},
]  # fmt: skip


def test_markdown_report(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    policies_with(tmp_path / "old")
    policies_with(
        tmp_path / "new", front_line_limit=25, raincheck_valid_days=45, escalation_update_hours_normal=12
    )
    write_corpus(tmp_path / "tickets.jsonl", [t if isinstance(t, str) else json.dumps(t) for t in TICKETS])
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "diff", "old/policies", "new/policies", "--tickets", "tickets.jsonl",
         "--format", "markdown", "--fail-on-change"],
        capture_output=True, text=True, cwd=tmp_path, check=False, timeout=120,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (1, "")
    check(request, HERE / "cli" / "diff_markdown.md", result.stdout)
