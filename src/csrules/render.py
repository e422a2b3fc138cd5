"""Stage 7, render: decisions as canonical JSON. No I/O.

Canonical JSON sorts keys and uses no spaces; money is a JSON number, datetimes are ISO 8601 in
UTC with `Z`. Equal decisions give byte-identical output in every process.
"""

from __future__ import annotations

import json

from .decision import Decision

__all__ = ["canonical_json", "pretty_json"]


def canonical_json(decision: Decision) -> str:
    """Sorted keys, compact separators, UTF-8 text (not ASCII-escaped)."""
    return json.dumps(
        decision.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def pretty_json(decision: Decision) -> str:
    """Sorted keys, indented by two spaces: for people and diffs."""
    return json.dumps(decision.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False)
