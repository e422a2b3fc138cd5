"""pytest plugin (entry point `pytest11`): every `*.cases.yaml` file is collected, one test item
per case, with the expected-against-actual report when a case fails.

pytest imports this module, and with it the `csrules` package, in every session where csrules is
installed; the case machinery (case files, loading a bundle) is imported only when a case file is
collected. `pytest -p no:csrules` leaves the plugin out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CaseFile", "CaseItem"]

# The loaded bundles of one pytest session (cases.Engines), kept in the session's config.stash:
# a second session in the same process (pytester, an IDE runner) loads the policies again.
_ENGINES = pytest.StashKey[Any]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect policy case files."""
    if file_path.name.endswith((".cases.yaml", ".cases.yml")):
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFailed(Exception):
    """A case's expectations did not hold; carries the result for the report."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.case.name)
        self.result = result


class CaseFile(pytest.File):
    """A `*.cases.yaml` file."""

    def collect(self) -> Iterator[pytest.Item]:
        from csrules.testing.cases import load_cases  # noqa: PLC0415 - keep the plugin light

        for case in load_cases([self.path]):
            yield CaseItem.from_parent(self, name=case.name, case=case)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """An invalid case file as its one-line error, file:line:column first, not a traceback."""
        from csrules.errors import Error  # noqa: PLC0415

        if isinstance(excinfo.value, Error):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One policy case."""

    def __init__(self, *, case: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        from csrules.testing.cases import Engines, run_case  # noqa: PLC0415 - keep the plugin light

        engines = self.config.stash.setdefault(_ENGINES, None)
        if engines is None:
            engines = self.config.stash[_ENGINES] = Engines()
        result = run_case(self.case, engines.get(self.case))
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The case report instead of a traceback."""
        if isinstance(excinfo.value, CaseFailed):
            from csrules.testing.report import describe_failure  # noqa: PLC0415

            return describe_failure(excinfo.value.result)
        from csrules.errors import Error  # noqa: PLC0415

        if isinstance(excinfo.value, Error):
            if getattr(excinfo.value, "file", None) == self.case.file:  # it says where in this file
                return str(excinfo.value)
            return f"{self.case.location}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the case is, for pytest's report."""
        return self.path, self.case.line - 1, f"policy case: {self.case.name}"
