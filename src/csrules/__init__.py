"""csrules: declarative customer-service escalation policies, decided on durable_rules.

```python
import csrules
engine = csrules.load()                      # the default bundle
decision = engine.evaluate(ticket_dict)      # outcome, required role, actions, follow-ups, trace
print(decision.explain())
```
"""

from ._version import __version__
from .analyze import PolicyWarning, analyze
from .decision import Action, Decision, FollowUp, Reasons
from .decision_log import DecisionLog
from .engine import Engine, default_policies
from .errors import AuditError, Diagnostic, EngineError, Error, PolicyError, TicketError
from .redact import Redactor
from .shadow import Divergence, JsonLinesSink, ShadowEngine, ShadowFailure, ShadowStats, load
from .ticket import Ticket
from .trace import ConditionResult, Trace, TraceEffect, TraceStep
from .verify import Difference, Verification, verify

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
]
