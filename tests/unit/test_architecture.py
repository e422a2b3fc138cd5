"""The shape of the code: public API, upstream-only imports, I/O at the edges, error codes documented."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import csrules
from tests.helpers import ROOT

SRC = ROOT / "src" / "csrules"

# Model modules hold data and pure helpers (each imports only earlier ones); stages run in order.
STAGES = [
    "load",
    "validate",
    "compile",
    "_durable",
    "evaluate",
    "combine",
    "_transport",
    "_workers",
    "engine",
    "impact",
    "generate",
    "verify",
    "redact",
    "decision_log",
    "shadow",
    "analyze",
    "explain",
    "render",
    "report_html",
    "schema",
    "testing",
    "cli",
]
MODEL_ORDER = [
    "_version",
    "_collector",
    "_network",
    "source",
    "errors",
    "values",
    "ticket",
    "policy",
    "trace",
    "decision",
    "facts",
    "conditions",
    "_regions",
]
MODELS = set(MODEL_ORDER)


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0] if parts[0] in ("cli", "testing") else parts[-1]


def _imports(path: Path) -> set[str]:
    """csrules modules imported at module level (function-level imports are deliberate and rare).

    Imports inside the same sub-package (cli/, testing/) are not counted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = len(path.relative_to(SRC).parts) == 1  # a module directly in csrules/
    found: set[str] = set()
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0 and node.module and node.module.startswith("csrules."):
            found.add(node.module.split(".")[1])
        elif (node.level == 1 and top) or node.level == 2:
            found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    return found


def test_public_api_is_exactly_the_contract() -> None:
    assert csrules.__all__ == sorted(csrules.__all__)
    assert set(csrules.__all__) == {
        "Action", "ConditionResult", "Decision", "Diagnostic", "Divergence", "Engine", "EngineError", "Error",
        "FollowUp", "JsonLinesSink", "PolicyError", "PolicyWarning", "Reasons", "ShadowEngine", "ShadowFailure",
        "ShadowStats", "Ticket", "TicketError", "Trace", "TraceEffect", "TraceStep", "__version__", "analyze",
        "default_policies", "load",
        # audit: errors, replay, the decision log
        "AuditError", "DecisionLog", "Difference", "Redactor", "Verification", "verify", "verify_log",
    }  # fmt: skip
    for name in csrules.__all__:
        if name != "__version__":
            assert getattr(csrules, name).__doc__, f"{name} has no docstring"


def test_imports_point_upstream_only() -> None:
    for path in SRC.rglob("*.py"):
        module = _module(path)
        if module in ("__init__", "__main__"):
            continue
        if module in MODELS:
            allowed = set(MODEL_ORDER[: MODEL_ORDER.index(module)])
        else:
            allowed = (
                MODELS
                | set(STAGES[: STAGES.index(module)])
                | ({module} if module in ("cli", "testing") else set())
            )
        imported = _imports(path) - {"__future__"}
        assert imported <= allowed, (
            f"{path.relative_to(ROOT)} imports downstream: {sorted(imported - allowed)}"
        )


def test_only_the_adapter_imports_durable_rules() -> None:
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import|from) durable", text, re.MULTILINE):
            assert path.name == "_durable.py", path


def _calls(path: Path) -> Iterator[tuple[ast.Call, str]]:
    """Every call in a module, with the called expression as written (`sys.exit`)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_only_the_cli_prints_or_exits() -> None:
    for path in SRC.rglob("*.py"):
        if "cli" in path.parts or path.name == "__main__.py":
            continue
        for node, name in _calls(path):
            assert name not in ("print", "sys.exit", "exit", "open"), (
                f"{path.name}:{node.lineno} calls {name}"
            )


def test_tests_leave_no_temporary_files_behind() -> None:
    # tmp_path is cleaned by pytest; what cannot use it takes tests.helpers.scratch_dir.
    for path in (ROOT / "tests").rglob("*.py"):
        if path.name == "helpers.py":
            continue
        for node, name in _calls(path):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert name not in ("tempfile.mkdtemp", "tempfile.mkstemp", "mkdtemp", "mkstemp"), (
                f"{where} calls {name}"
            )
            delete = [k for k in node.keywords if k.arg == "delete"]
            assert not delete or ast.unparse(delete[0].value) != "False", f"{where} keeps its file"


def test_no_eval_or_exec_anywhere() -> None:
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile"), f"{path.name}:{node.lineno}"


def _codes_in_source() -> set[str]:
    codes: set[str] = set()
    kebab = re.compile(r"^[a-z]+(-[a-z0-9]+)+$")
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = ast.unparse(node.func)
                args = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if (
                    callee
                    in (
                        "Diagnostic",
                        "self.problem",
                        "validator.problem",
                        "PydanticCustomError",
                        "AuditError",
                    )
                    and args
                ):
                    codes.add(args[0].value)
                if callee == "TicketError" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    codes.add(str(node.args[1].value))
            if isinstance(node, ast.Assign):  # code = "x" or code, got = "x", ...
                for target in node.targets:
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                    for name, value in zip(names, values, strict=False):
                        if (
                            isinstance(name, ast.Name)
                            and name.id == "code"
                            and isinstance(value, ast.Constant)
                        ):
                            codes.add(str(value.value))
            if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys if k):
                values = [
                    v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                ]
                if values and all(kebab.match(v) for v in values) and len(values) == len(node.values):
                    codes.update(values)
    return {c for c in codes if kebab.match(c)}


def test_every_error_code_has_a_section_in_the_docs() -> None:
    documented = set(
        re.findall(r"^### `([a-z0-9-]+)`", (ROOT / "docs" / "errors.md").read_text(encoding="utf-8"), re.M)
    )
    used = _codes_in_source() | {"invalid-type"}
    assert used == documented, (
        f"undocumented: {sorted(used - documented)}; stale: {sorted(documented - used)}"
    )


def test_editable_install_finds_the_repository_bundle() -> None:
    if not Path(csrules.__file__).is_relative_to(ROOT / "src"):
        pytest.skip("csrules is installed from a wheel: its bundle is the packaged copy")
    assert csrules.default_policies() == ROOT / "policies"
