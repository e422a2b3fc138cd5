"""Policies as of a git revision: `git:REV:path` materialised into a temporary directory.

`REV` is anything `git rev-parse` takes without a colon (`main`, `HEAD~1`, `v1.4`, a commit id);
`path` is a file or directory relative to the top of the repository that holds the current
directory, as in `git show REV:path`. The files are written under the temporary directory with
their repository paths, so traces name them as they are named in the working tree
(`policies/empowerment.yaml`). git runs as a list of arguments, never through a shell.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from ..errors import one_line
from ..load import MAX_FILE_BYTES
from ._common import UsageError

__all__ = ["PREFIX", "is_git_spec", "materialise"]

PREFIX = "git:"


def is_git_spec(spec: str) -> bool:
    """Whether a policy argument names policies at a git revision."""
    return spec.startswith(PREFIX)


def _git(
    args: list[str], cwd: Path | None = None, data: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=data, capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise UsageError("git is not installed (needed for `git:REV:path`)") from None


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0].removeprefix("fatal: ") if text else "git failed"


def materialise(spec: str, into: Path) -> Path:
    """Write the policies `git:REV:path` names under `into`; returns the path to load.

    Raises:
        UsageError: not a `git:REV:path`, not in a git repository, an unknown revision, or no
            such path at that revision (one line).
    """
    rev, sep, path = spec.removeprefix(PREFIX).partition(":")
    relative = PurePosixPath(path.strip("/")) if path.strip("/") else None
    if not rev or not sep or relative is None or relative.is_absolute() or ".." in relative.parts:
        raise UsageError(
            f"`{spec}`: expected git:REV:path, a path inside the repository, e.g. git:main:policies"
        )
    top = _git(["rev-parse", "--show-toplevel"])
    if top.returncode != 0:
        raise UsageError(f"`{spec}`: the current directory is not in a git repository")
    root = Path(top.stdout.decode("utf-8").strip())
    commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], root)
    if commit.returncode != 0:
        raise UsageError(f"`{spec}`: unknown revision `{rev}`")
    sha = commit.stdout.decode("ascii").strip()
    kind = _git(["cat-file", "-t", f"{sha}:{relative}"], root)
    if kind.returncode != 0 or kind.stdout.strip() not in (b"blob", b"tree"):
        raise UsageError(f"`{spec}`: no file or directory `{relative}` at `{rev}`")
    # The committed blobs themselves, read with ls-tree and cat-file: `git archive` would apply
    # `.gitattributes` (`export-ignore` leaves files out, `export-subst` rewrites them).
    listing = _git(["ls-tree", "-r", "-l", "-z", "--full-tree", sha, "--", str(relative)], root)
    if listing.returncode != 0:
        raise UsageError(f"`{spec}`: {_first_line(listing.stderr)}")
    blobs: list[tuple[str, PurePosixPath]] = []
    oversized: list[tuple[PurePosixPath, int]] = []
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, written = entry.partition(b"\t")
        mode, kind_, oid, size = meta.decode("ascii").split()
        name = PurePosixPath(written.decode("utf-8", "surrogateescape"))
        if kind_ != "blob" or mode not in ("100644", "100755"):
            # A link or a submodule: the working tree's loader follows it, a revision has only its
            # target's name; leaving it out would report changes that no commit made.
            what = (
                "a symbolic link"
                if mode == "120000"
                else "a submodule"
                if kind_ == "commit"
                else "not a file"
            )
            raise UsageError(
                f"`{spec}`: `{one_line(str(name))}` is {what} at `{rev}`: only regular files can be read"
            )
        if name.is_absolute() or ".." in name.parts:
            continue  # nothing is written outside `into`
        if not size.isdigit():  # `-` or `BAD`: the object is not in the repository (a partial clone)
            raise _missing(spec, name, rev)
        if int(size) > MAX_FILE_BYTES:  # never read: the loader refuses it by its size alone
            oversized.append((name, int(size)))
        else:
            blobs.append((oid, name))
    batch = _git(["cat-file", "--batch"], root, "".join(f"{oid}\n" for oid, _ in blobs).encode())
    if batch.returncode != 0:
        raise UsageError(f"`{spec}`: {_first_line(batch.stderr)}")
    contents = _batch(batch.stdout)
    for (_, name), data in zip(blobs, contents, strict=True):
        if data is None:
            raise _missing(spec, name, rev)
        _place(into, name).write_bytes(data)
    for name, length in oversized:  # a sparse file of its size: no memory, no disk
        with _place(into, name).open("wb") as handle:
            handle.truncate(length)
    return into / relative


def _missing(spec: str, name: PurePosixPath, rev: str) -> UsageError:
    """A file whose content the repository does not have (a partial clone offline, damage)."""
    return UsageError(f"`{spec}`: `{one_line(str(name))}` is missing from the repository at `{rev}`")


def _place(into: Path, name: PurePosixPath) -> Path:
    target = into.joinpath(*name.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _batch(output: bytes) -> list[bytes | None]:
    """The contents in `git cat-file --batch` output: `<oid> blob <size>\n<content>\n` each, or
    None for an object git does not have (`<oid> missing\n`)."""
    found: list[bytes | None] = []
    at = 0
    while at < len(output):
        end = output.index(b"\n", at)
        header = output[at:end].split()
        if len(header) != 3 or not header[2].isdigit():
            found.append(None)
            at = end + 1
            continue
        size = int(header[2])
        found.append(output[end + 1 : end + 1 + size])
        at = end + 1 + size + 1
    return found
