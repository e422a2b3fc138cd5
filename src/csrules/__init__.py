"""csrules: declarative customer-service escalation policies, decided on durable_rules.

```python
import csrules
engine = csrules.load()                      # the default bundle
decision = engine.evaluate(ticket_dict)      # outcome, required role, actions, follow-ups, trace
print(decision.explain())
```

The names of the later, optional stages (static analysis, replay, the decision log, redaction)
are imported on first use (PEP 562 `__getattr__`): `import csrules` stays fast for a process that
only decides tickets (docs/performance.md). `load` is shadow.load (engine.load plus `shadow=`),
bound here at import and kept when the first load imports the submodule load.py (`_Package`).
"""

import datetime  # noqa: F401 - before pydantic, whose compiled core panics on an interrupt in this import
import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .decision import Action, Decision, FollowUp, Reasons
from .engine import Engine, default_policies
from .errors import AuditError, Diagnostic, EngineError, Error, PolicyError, TicketError
from .shadow import Divergence, JsonLinesSink, ShadowEngine, ShadowFailure, ShadowStats, load
from .ticket import Ticket
from .trace import ConditionResult, Trace, TraceEffect, TraceStep

if TYPE_CHECKING:  # what __getattr__ provides, for type checkers and editors
    from .analyze import PolicyWarning, analyze
    from .decision_log import DecisionLog, verify_log
    from .redact import Redactor
    from .verify import Difference, Verification, verify

_LAZY = {
    "PolicyWarning": "analyze",
    "analyze": "analyze",
    "DecisionLog": "decision_log",
    "verify_log": "decision_log",
    "Redactor": "redact",
    "Difference": "verify",
    "Verification": "verify",
    "verify": "verify",
}


def __getattr__(name: str) -> Any:
    """Import a public name of an optional stage on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'csrules' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps `csrules.analyze`, `csrules.verify` and `csrules.load` the functions, not their modules."""

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule sets the package attribute of its name to the module: csrules.verify
        # and csrules.analyze (on first use) and csrules.load (by the first `load()`) would replace
        # the functions of those names. The function stays; the module is in sys.modules.
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            if name in self.__dict__:
                return
            value = getattr(value, name)
        super().__setattr__(name, value)


_FUNCTIONS = {"analyze", "load", "verify"}  # package functions named like a submodule


sys.modules[__name__].__class__ = _Package


__all__ = [
    "Action",
    "AuditError",
    "ConditionResult",
    "Decision",
    "DecisionLog",
    "Diagnostic",
    "Difference",
    "Divergence",
    "Engine",
    "EngineError",
    "Error",
    "FollowUp",
    "JsonLinesSink",
    "PolicyError",
    "PolicyWarning",
    "Reasons",
    "Redactor",
    "ShadowEngine",
    "ShadowFailure",
    "ShadowStats",
    "Ticket",
    "TicketError",
    "Trace",
    "TraceEffect",
    "TraceStep",
    "Verification",
    "__version__",
    "analyze",
    "default_policies",
    "load",
    "verify",
    "verify_log",
]
