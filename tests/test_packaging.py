"""The built wheel carries the default bundle: install it into a fresh venv, load and evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import csrules
from tests.helpers import ROOT

SCRIPT = """
import json, sys
from datetime import datetime, timezone
import csrules
engine = csrules.load()
ticket = {"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"},
          "request": {"kind": "refund", "amount": "20.01"}}
decision = engine.evaluate(ticket, now=datetime(2026, 11, 23, tzinfo=timezone.utc))
print(json.dumps({"file": csrules.__file__, "bundle": str(csrules.default_policies()),
                  "rules": len(engine.bundle.rules), "required_role": decision.required_role,
                  "source": decision.trace.steps[0].source, "digest": engine.policy_digest}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("csrules-*.whl")
    return built


def test_wheel_contains_the_default_bundle(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    policies = sorted(p.name for p in (ROOT / "policies").glob("*.yaml"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("csrules/policies/")) == policies
    assert "csrules/py.typed" in names
    assert {f"csrules/schemas/{n}.schema.json" for n in ("policy", "ticket", "decision")} <= set(names)
    # The command's launcher, outside the package (a Ctrl-C during csrules' import, test_interrupts)
    assert "_csrules_entry.py" in names
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "csrules = _csrules_entry:main" in zipfile.ZipFile(wheel).read(entry_points).decode().splitlines()
    # The MIT licence's notice travels with every copy (it did not: `License-Expression` alone).
    [licence] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(wheel).read(licence).decode() == (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_wheel_installed_in_a_fresh_venv_loads_and_evaluates(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Dependencies (durable_rules builds from source for minutes) come from the test environment;
    # csrules itself only from the wheel, installed by pip into the fresh venv.
    Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = subprocess.run(
        [str(python), "-I", "-c", SCRIPT], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    report = json.loads(result.stdout)
    assert report["file"].startswith(site)
    assert report["bundle"] == str(Path(site) / "csrules" / "policies")
    assert (report["rules"], report["required_role"]) == (17, "senior")
    assert report["source"] == "policies/conduct.yaml:6"  # the same as from the repository
    assert report["digest"] == csrules.load().policy_digest
