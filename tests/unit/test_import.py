"""`import csrules` loads only what deciding tickets needs; the optional stages load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import csrules

OPTIONAL = [
    "analyze",
    "_regions",
    "decision_log",
    "redact",
    "verify",
    "schema",
    "explain",
    "render",
    "testing",
    "cli",
]


def _modules_after(code: str) -> list[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_import_loads_no_optional_stage_nor_policy_reading_workers_or_hypothesis() -> None:
    loaded = _modules_after("import csrules")
    assert [m for m in OPTIONAL if f"csrules.{m}" in loaded] == []
    # Reading policy files is imported by the first `csrules.load()`, not by `import csrules`.
    assert [m for m in ("csrules.load", "csrules.validate", "yaml") if m in loaded] == []
    assert "multiprocessing" not in loaded
    assert "concurrent.futures.process" not in loaded
    assert [m for m in ("csrules._transport", "pickle") if m in loaded] == []
    assert "hypothesis" not in loaded


def test_loading_and_deciding_needs_no_optional_stage() -> None:
    code = (
        "import csrules\n"
        "csrules.load().evaluate({'id': 'T', 'customer': {'id': 'C'}, 'agent': {'id': 'A', 'role': 'senior'}})"
    )
    loaded = _modules_after(code)
    assert [m for m in OPTIONAL[:5] if f"csrules.{m}" in loaded] == []
    assert {"csrules.load", "csrules.validate", "yaml"} <= set(loaded)


def test_optional_names_resolve_on_first_use_to_the_real_objects() -> None:
    from csrules.analyze import analyze  # noqa: PLC0415
    from csrules.decision_log import DecisionLog  # noqa: PLC0415
    from csrules.verify import verify  # noqa: PLC0415

    assert csrules.analyze is analyze
    assert csrules.verify is verify
    assert csrules.DecisionLog is DecisionLog
    assert set(csrules.__all__) <= set(dir(csrules))


def test_importing_a_submodule_named_like_a_function_keeps_the_function() -> None:
    """`import csrules.verify` sets the package attribute to the module unless the package keeps it."""
    code = "import csrules\nimport csrules.verify, csrules.analyze\nprint(type(csrules.verify).__name__, type(csrules.analyze).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["function", "function"]


def test_the_first_load_keeps_csrules_load_the_function() -> None:
    """The first `csrules.load()` imports the submodule load.py: `csrules.load` must stay the function."""
    code = (
        "import csrules\n"
        "first = csrules.load()\n"
        "second = csrules.load()\n"
        "import csrules.load\n"
        "from csrules.load import load_documents\n"
        "print(type(csrules.load).__name__, first.policy_digest == second.policy_digest, callable(load_documents))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["function", "True", "True"]
