"""`git:REV:path` policies: materialised from a temporary repository with two commits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

import csrules
from csrules.load import MAX_FILE_BYTES
from tests.helpers import ROOT
from tests.impact.support import diff, diff_json, transitions, write_corpus


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=csrules", "-c", "user.email=csrules@example.com", *args],
        cwd=repo, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose second commit raises front_line_limit from 20 to 25."""
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "policies", repo / "policies")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "policies")
    empowerment = repo / "policies" / "empowerment.yaml"
    text = empowerment.read_text(encoding="utf-8")
    limit = "  front_line_limit:\n    type: money\n    default: 20\n"
    assert limit in text
    empowerment.write_text(text.replace(limit, limit.replace("20", "25")), encoding="utf-8")
    git(repo, "commit", "-q", "-am", "raise the front-line limit")
    tickets = [
        {"id": f"T-{amount}", "customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"},
         "request": {"kind": "refund", "amount": amount}}
        for amount in ("19.00", "20.00", "20.01", "24.00", "25.00", "25.01", "40.00")
    ]  # fmt: skip
    write_corpus(repo / "tickets.jsonl", tickets)
    return repo


def test_two_revisions_of_a_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path
) -> None:
    monkeypatch.chdir(repo)
    report = diff_json(capsys, "git:HEAD~1:policies", "git:main:policies", "--tickets", "tickets.jsonl")
    assert transitions(report)["outcome escalate->approve"] == 3  # 20.01, 24.00 and 25.00
    assert report["old"]["policies"] == "git:HEAD~1:policies"
    # Materialised with their repository paths, the files are named as in the working tree.
    assert report["old"]["policy_digest"] == csrules.load(ROOT / "policies").policy_digest
    assert report["new"]["policy_digest"] == csrules.load(repo / "policies").policy_digest


def test_a_revision_against_the_working_tree_and_a_single_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path
) -> None:
    monkeypatch.chdir(repo / "policies")  # any directory inside the repository; paths from its top
    report = diff_json(capsys, "git:HEAD~1:policies/", "../policies", "--tickets", "../tickets.jsonl")
    assert report["changed"] == 3
    single = diff_json(
        capsys, "git:HEAD~1:policies/empowerment.yaml", "empowerment.yaml", "--tickets", "../tickets.jsonl"
    )
    assert transitions(single) == {"outcome escalate->approve": 3, "required_role senior->front_line": 3}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("git:nope:policies", "`git:nope:policies`: unknown revision `nope`"),
        ("git:HEAD:nowhere", "`git:HEAD:nowhere`: no file or directory `nowhere` at `HEAD`"),
        (
            "git:HEAD",
            "`git:HEAD`: expected git:REV:path, a path inside the repository, e.g. git:main:policies",
        ),
        (
            "git:HEAD:../x",
            "`git:HEAD:../x`: expected git:REV:path, a path inside the repository, e.g. git:main:policies",
        ),
        ("git:--output=x:policies", "`git:--output=x:policies`: unknown revision `--output=x`"),
    ],
)
def test_a_bad_git_spec_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path, spec: str, message: str
) -> None:
    monkeypatch.chdir(repo)
    code, out, err = diff(capsys, spec, "policies", "--tickets", "tickets.jsonl")
    assert (code, out, err) == (2, "", f"csrules: error: {message}\n")


def test_outside_a_repository(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, _, err = diff(
        capsys, "git:HEAD:policies", str(repo / "policies"), "--tickets", str(repo / "tickets.jsonl")
    )
    assert (code, err) == (
        2,
        "csrules: error: `git:HEAD:policies`: the current directory is not in a git repository\n",
    )


def test_the_committed_files_are_read_whatever_gitattributes_say(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`git archive` applied `export-ignore`: a policy file was left out of OLD and a third of the
    decisions "changed"."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "policies", repo / "policies")
    (repo / ".gitattributes").write_text(
        "policies/learning.yaml export-ignore\npolicies/conduct.yaml export-subst\n", encoding="utf-8"
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "policies")
    write_corpus(repo / "tickets.jsonl", [json.loads(line) for line in _generated(300)])
    monkeypatch.chdir(repo)
    report = diff_json(capsys, "git:HEAD:policies", "policies", "--tickets", "tickets.jsonl")
    assert report["old"]["policy_digest"] == report["new"]["policy_digest"]
    assert (report["tickets"], report["changed"]) == (300, 0)


def _generated(count: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "csrules", "generate-tickets", "--count", str(count)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_a_link_in_the_policies_at_a_revision_is_an_error_not_a_missing_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The working tree follows `pol/shared -> ../common`; the revision's copy left the link out,
    and an unchanged tree reported a change."""
    repo = tmp_path / "repo"
    (repo / "common").mkdir(parents=True)
    (repo / "pol").mkdir()
    shutil.copy(ROOT / "policies" / "conduct.yaml", repo / "pol" / "conduct.yaml")
    shutil.copy(ROOT / "policies" / "learning.yaml", repo / "common" / "learning.yaml")
    (repo / "pol" / "shared").symlink_to("../common", target_is_directory=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "policies")
    write_corpus(repo / "t.jsonl", [json.loads(line) for line in _generated(5)])
    monkeypatch.chdir(repo)
    code, out, err = diff(capsys, "git:HEAD:pol", "pol", "--tickets", "t.jsonl")
    assert (code, out) == (2, "")
    assert err == (
        "csrules: error: `git:HEAD:pol`: `pol/shared` is a symbolic link at `HEAD`: only regular files can be read\n"
    )


def test_a_policy_error_at_a_revision_names_the_revision_not_a_temporary_copy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The message named `/tmp/csrules-diff-XXXX/old/policies/...`, a path that changed every run
    and was gone when the message appeared, and did not say which revision was broken."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "policies", repo / "policies")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "policies")
    empowerment = repo / "policies" / "empowerment.yaml"
    empowerment.write_text(
        empowerment.read_text(encoding="utf-8").replace("  front_line_limit:\n", "  front_line_limit: [\n"),
        encoding="utf-8",
    )
    git(repo, "commit", "-q", "-am", "broken")
    write_corpus(
        repo / "tickets.jsonl", [{"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "senior"}}]
    )
    monkeypatch.chdir(repo)
    code, out, err = diff(capsys, "git:HEAD:policies", "git:HEAD~1:policies", "--tickets", "tickets.jsonl")
    assert (code, out) == (2, "")
    assert (
        err == "csrules: error: git:HEAD:policies/empowerment.yaml:14:12: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 12, column 21)\n"
    )


def test_paths_in_the_text_of_a_policy_error_at_a_revision_name_the_revision(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path, tmp_path: Path
) -> None:
    """The place was renamed, but not a second path in the message: `(first defined at
    /tmp/csrules-diff-XXXX/old/...)`, `(the override, used at /tmp/csrules-diff-XXXX/old/...)`."""
    monkeypatch.chdir(repo)
    code, out, err = diff(
        capsys,
        "git:HEAD:policies",
        "policies",
        "--tickets",
        "tickets.jsonl",
        "--param",
        "raincheck_valid_days=3000000",
    )
    assert (code, out) == (2, "")
    assert "(the override, used at git:HEAD:policies/rainchecks.yaml:" in err
    assert "csrules-diff-" not in err
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone)
    shutil.copy(clone / "policies" / "learning.yaml", clone / "policies" / "learning2.yaml")
    git(clone, "add", "policies")
    git(clone, "commit", "-q", "-m", "a file twice")
    monkeypatch.chdir(clone)
    code, out, err = diff(capsys, "git:HEAD:policies", "policies", "--tickets", "tickets.jsonl")
    assert (code, out) == (2, "")
    assert err.startswith("csrules: error: git:HEAD:policies/learning2.yaml:")
    assert "(first defined at git:HEAD:policies/learning.yaml:" in err
    assert "csrules-diff-" not in err


def test_an_object_missing_from_the_repository_is_one_line_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path, tmp_path: Path
) -> None:
    """A partial clone offline, or a damaged repository: `ls-tree -l` gives `-` or `BAD` as the
    size of a blob it does not have, and `int()` of it was exit 3, "internal error: ValueError"."""
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone)
    listed = subprocess.run(
        ["git", "rev-parse", "HEAD:policies/learning.yaml"],
        cwd=clone,
        check=True,
        capture_output=True,
        text=True,
    )
    oid = listed.stdout.strip()
    (clone / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    monkeypatch.chdir(clone)
    code, out, err = diff(capsys, "git:HEAD:policies", "policies", "--tickets", "tickets.jsonl")
    assert (code, out) == (2, "")
    assert err == (
        "csrules: error: `git:HEAD:policies`: `policies/learning.yaml` is missing from the repository at `HEAD`\n"
    )


def test_a_file_over_the_size_limit_at_a_revision_is_refused_as_in_the_working_tree(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every blob under the path was read into memory, however large: a policy file over the
    limit is now refused by its size alone, as the working tree's is, its content never read."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "policies", repo / "policies")
    (repo / "policies" / "zz_big.yaml").write_text("# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    (repo / "policies" / "data.bin").write_bytes(b"x" * (64 << 20))  # not a policy file: never read
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "policies")
    write_corpus(
        repo / "tickets.jsonl", [{"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "senior"}}]
    )
    monkeypatch.chdir(repo)
    expected = f"files are limited to {MAX_FILE_BYTES} bytes\n"
    tracemalloc.start()
    try:
        code, out, err = diff(capsys, "git:HEAD:policies", "policies", "--tickets", "tickets.jsonl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (code, out, err) == (2, "", f"csrules: error: git:HEAD:policies/zz_big.yaml:1:1: {expected}")
    assert peak < 32 << 20
    code, out, err = diff(capsys, "policies", "git:HEAD:policies", "--tickets", "tickets.jsonl")
    assert (code, out, err) == (2, "", f"csrules: error: policies/zz_big.yaml:1:1: {expected}")
