"""The `csrules` command's launcher: the one module of the distribution outside the package.

Importing csrules takes ~0.3 s (pydantic builds its models). A Ctrl-C in that time raises
KeyboardInterrupt inside the import, before any of csrules' own error handling exists; from a
console script that names `csrules.cli.main` directly, Python then prints its traceback. This
module imports nothing of csrules until `main()` runs, so it can catch that interrupt and end as
the command does on any other Ctrl-C: no output, exit 130.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run the `csrules` command; a Ctrl-C while it is still being imported ends it quietly."""
    try:
        # pydantic's compiled core imports `datetime` through Python's C API when it loads: an
        # interrupt landing in that import makes it panic (`PanicException`, exit 1, a Rust
        # message). Imported here first, where an interrupt is a plain KeyboardInterrupt. (Its
        # other imports, `decimal` among them, are Python's own: interrupted, they raise it.)
        import datetime  # noqa: F401, PLC0415

        from csrules.cli.main import entry  # noqa: PLC0415 (the point: imported inside the try)
    except KeyboardInterrupt:
        sys.exit(130)
    entry()
