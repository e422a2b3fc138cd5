"""After render, schema: the policy, ticket and decision models -> JSON Schemas for editors. No I/O.

pydantic generates the shape of a policy file (`validate.PolicyDocument`) and of a ticket
(`ticket.Ticket`) as JSON Schema draft 2020-12. This module adds what pydantic cannot see:
`when` is `Any` in the model, so every property named `when` is pointed at a hand-written
`$defs/Condition` describing the condition language of docs/language.md, with one property per
fact path (so editors complete fact paths and enum values) and operand types from `FACT_TYPES`.

The schemas are for completion and early validation: csrules' own validation stays the authority.
They may accept a file that `csrules check` rejects (undeclared parameters and derived facts,
parameter types, duplicate ids, cycles, limits), never the reverse. They validate alike under
draft 7, which most YAML editors implement: `$defs` are reached by JSON pointer and the siblings of
a `$ref` are only annotations. Output is plain data (dicts);
cli/schema.py writes it, and the files shipped in `csrules/schemas/` are tested to be up to date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, get_args

from .decision import Decision, Outcome
from .policy import DECISION_TYPES
from .ticket import ATTRIBUTE_NAME, FACT_TYPES, MAX_ATTRIBUTES, MAX_TEXT, ROLES, Ticket
from .validate import MAX_IN_VALUES, PolicyDocument
from .values import DATE_TEXT, DATETIME_TEXT, MONEY_MAX, FactType

__all__ = [
    "DECISION_SCHEMA_ID",
    "DRAFT",
    "POLICY_SCHEMA_ID",
    "TICKET_SCHEMA_ID",
    "decision_schema",
    "policy_schema",
    "ticket_schema",
]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# INVARIANT: the ids never change (editors and users' settings may key on them); they name the
# schemas and are not fetched: editors read the file from `csrules schema ... --output`.
POLICY_SCHEMA_ID = "https://csrules.dev/schemas/policy.schema.json"
TICKET_SCHEMA_ID = "https://csrules.dev/schemas/ticket.schema.json"
DECISION_SCHEMA_ID = "https://csrules.dev/schemas/decision.schema.json"

JsonSchema = dict[str, Any]

_IDENTIFIER = "[a-z][a-z0-9_]{0,63}"  # validate.Identifier: parameter and derived fact names
_SAFE_INT = 2**53  # numbers the engine and csrules compare alike (validate._SAFE_INT)
_ORDERED_KINDS = {"money", "integer", "number", "date", "datetime"}  # plus numeric attributes
_FACT_REF_KINDS = {"money", "integer", "number", "date", "datetime"}  # validate._FACT_REF_KINDS
_ORDER_OPS = ("lt", "lte", "gt", "gte")
_OPS = {
    "eq": "equals the operand",
    "ne": "differs from the operand (false when the fact is absent)",
    "lt": "less than the operand",
    "lte": "less than or equal to the operand",
    "gt": "greater than the operand",
    "gte": "greater than or equal to the operand",
    "in": f"is one of a list of 1 to {MAX_IN_VALUES} values",
    "not_in": f"is none of a list of 1 to {MAX_IN_VALUES} values (false when the fact is absent)",
    "exists": "true: the fact is present; false: it is absent",
}

# Field descriptions for hovers, by model ($defs name) and field. Only fields that exist are
# described: a renamed field loses its hover text, never the schema.
_POLICY_FIELDS: dict[str, dict[str, str]] = {
    "PolicyDocument": {
        "policy": "An optional name for the policy (an identifier).",
        "description": "What the policy is for.",
        "parameters": "Named values rules refer to as `{param: name}`; overridable at load time.",
        "derived": "Facts that rules set with `derive` and test as `derived.<name>`.",
        "rules": "The rules, in bundle order.",
    },
    "RuleDoc": {
        "id": "A stable rule id, unique in the bundle: [a-z][a-z0-9_]*.",
        "description": "A short description, shown in traces.",
        "rationale": "Why the rule exists, shown in explanations.",
        "priority": "Orders firing within a stage (higher first); -1000 to 1000, default 0.",
        "then": "The effects of the rule when it fires (at least one).",
    },
    "ThenDoc": {
        "require_role": "The decision needs at least this role.",
        "deny": "The request is denied.",
        "derive": "Set declared derived facts: a literal or `{param: name}` each.",
        "actions": "Actions to add to the decision.",
        "follow_ups": "Follow-ups due a duration after the evaluation time.",
    },
    "ParameterDoc": {
        "type": "The parameter's type.",
        "default": "The value unless overridden at load time; of the declared type.",
    },
    "DerivedDoc": {
        "type": "The derived fact's type.",
        "default": "The value when no rule derives it (booleans default to false).",
    },
    "ActionDoc": {
        "kind": "The kind of action (an identifier).",
        "params": "A literal, `{param: name}`, `{fact: path}` or `{now_plus: duration}` each.",
    },
    "FollowUpDoc": {
        "kind": "The kind of follow-up (an identifier).",
        "due_in": "Due this long after the evaluation time.",
    },
}


def policy_schema() -> JsonSchema:
    """The JSON Schema of a policy file, with the condition language under `$defs/Condition`."""
    schema = PolicyDocument.model_json_schema()
    _describe_fields(schema, _POLICY_FIELDS)
    for holder in _objects(schema):
        if "when" in holder.get("properties", {}):
            holder["properties"]["when"] = {
                "description": "Conditions that must all hold: a list, or one mapping (docs/language.md"
                "#conditions). Absent or empty: always holds.",
                "anyOf": [{"$ref": "#/$defs/Condition"}, {"type": "array", "maxItems": 0}, {"type": "null"}],
            }
    _close_pattern_maps(schema)
    _effects_and_invariants(schema["$defs"])
    schema["$defs"].update(_condition_defs())
    return _document(
        schema,
        POLICY_SCHEMA_ID,
        "csrules policy file",
        "A csrules policy file: parameters, derived facts and rules (docs/language.md). Editor "
        "support only: `csrules check` is the authority.",
    )


# A ticket's date and time as csrules reads one, with its UTC offset (a naive one is refused).
_AWARE_DATETIME = DATETIME_TEXT.pattern.removesuffix("?")
# Per kind of ticket fact, the `format` pydantic writes and the pattern that says what csrules reads.
_TIME_PATTERNS = {
    "datetime": ("date-time", f"^{_AWARE_DATETIME}$"),
    "date": ("date", f"^{DATE_TEXT.pattern}$"),
}


def _effects_and_invariants(defs: dict[str, JsonSchema]) -> None:
    """What validation checks of effects and invariants beyond the documents' models (`Any`, `str`)."""
    # A rule needs at least one effect (`empty-effects`): `deny: false` or `actions: []` is none.
    defs["ThenDoc"]["anyOf"] = [
        {"required": ["require_role"], "properties": {"require_role": {"type": "string"}}},
        {"required": ["deny"], "properties": {"deny": {"const": True}}},
        {"required": ["derive"], "properties": {"derive": {"minProperties": 1}}},
        {"required": ["actions"], "properties": {"actions": {"minItems": 1}}},
        {"required": ["follow_ups"], "properties": {"follow_ups": {"minItems": 1}}},
    ]
    params = defs["ActionDoc"]["properties"]["params"]["patternProperties"]
    for pattern in params:
        params[pattern] = {
            "anyOf": [
                {"type": ["string", "number", "boolean", "null"]},
                {"$ref": "#/$defs/ParamRefDoc"},
                {
                    "type": "object",
                    "properties": {"fact": {"type": "string"}},
                    "required": ["fact"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"now_plus": {"$ref": "#/$defs/DurationDoc"}},
                    "required": ["now_plus"],
                    "additionalProperties": False,
                },
            ]
        }
    # A key written with no value (null) is read as left out, here as by csrules.
    null: JsonSchema = {"type": "null"}
    never = defs["NeverDoc"]
    for name, values in (("outcome", get_args(Outcome)), ("required_role", ROLES)):
        one = {"type": "string", "enum": list(values)}
        never["properties"][name]["anyOf"] = [one, {"type": "array", "items": one, "minItems": 1}, null]
    never["anyOf"] = [_given(key) for key in ("outcome", "required_role")]
    invariant = defs["InvariantDoc"]
    money = sorted(path for path, fact in FACT_TYPES.items() if fact.kind == "money")
    invariant["properties"]["monotonic_in"]["anyOf"] = [{"type": "string", "enum": money}, null]
    invariant["properties"]["role_monotonic"]["anyOf"] = [{"const": True}, null]
    invariant["oneOf"] = [_given(kind) for kind in ("monotonic_in", "role_monotonic", "never")]


def _given(key: str) -> JsonSchema:
    """`key` is there with a value (not null)."""
    return {"required": [key], "properties": {key: {"not": {"type": "null"}}}}


def ticket_schema() -> JsonSchema:
    """The JSON Schema of a ticket in its JSON form."""
    schema = Ticket.model_json_schema()
    _ticket_limits(schema, schema)
    _close_pattern_maps(schema)
    return _document(
        schema,
        TICKET_SCHEMA_ID,
        "csrules ticket",
        "The facts of one customer-service ticket, as JSON (docs/language.md#fact-paths). Editor "
        "support only: csrules validates every ticket it evaluates.",
    )


def _ticket_limits(schema: JsonSchema, ticket: JsonSchema) -> None:
    """What a ticket's JSON Schema (`ticket`, a node of `schema`) can say beyond its models: money
    from 0 to its maximum, written without a sign; dates and times as csrules reads them (a
    pattern: `format` is only an annotation to most validators); the attributes' count, names
    and values."""
    for path, fact_type in FACT_TYPES.items():
        if fact_type.kind == "money":
            _money(_property(schema, path, ticket))
        elif fact_type.kind in _TIME_PATTERNS:  # datetimes not RFC 3339: `10:00Z`, a space
            written, pattern = _TIME_PATTERNS[fact_type.kind]
            node = _property(schema, path, ticket)
            for branch in [node, *node.get("anyOf", [])]:
                if branch.get("format") == written:
                    del branch["format"]
                    branch["pattern"] = pattern
    attributes = ticket["properties"]["attributes"]
    attributes["maxProperties"] = MAX_ATTRIBUTES
    attributes["description"] = (
        f"Custom facts (`attributes.<name>` in policies): at most {MAX_ATTRIBUTES}, each a string, "
        "a number or a boolean."
    )
    for pattern in attributes["patternProperties"]:
        attributes["patternProperties"][pattern] = {
            "anyOf": [
                {"type": "string", "maxLength": MAX_TEXT},
                {"type": "number", "exclusiveMinimum": -_SAFE_INT, "exclusiveMaximum": _SAFE_INT},
                {"type": "boolean"},
            ]
        }


def decision_schema() -> JsonSchema:
    """The JSON Schema of a Decision in its JSON form (`model_dump_json`), for the systems that
    store decisions: every decision csrules writes validates against it. Its recorded ticket
    (`trace.facts`) has the ticket schema's limits."""
    schema = Decision.model_json_schema(mode="serialization")
    _ticket_limits(schema, schema["$defs"]["Ticket"])
    _close_pattern_maps(schema)
    return _document(
        schema,
        DECISION_SCHEMA_ID,
        "csrules decision",
        "A csrules decision with its justification trace, as JSON (docs/decisions.md). Only a "
        "decision that `csrules verify` replays as identical is one csrules made.",
    )


# --- post-processing ----------------------------------------------------------------------------


def _document(schema: JsonSchema, schema_id: str, title: str, description: str) -> JsonSchema:
    return {
        "$schema": DRAFT,
        "$id": schema_id,
        **schema,
        "title": title,
        "description": description,
    }


def _objects(node: object) -> Iterator[JsonSchema]:
    """Every dict in a schema, depth first; a dict may replace its values while it is visited."""
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def _describe_fields(schema: JsonSchema, fields: dict[str, dict[str, str]]) -> None:
    models = {**schema["$defs"], "PolicyDocument": schema}
    for model, descriptions in fields.items():
        properties = models.get(model, {}).get("properties", {})
        for name, text in descriptions.items():
            if name in properties:
                properties[name]["description"] = text


def _close_pattern_maps(schema: JsonSchema) -> None:
    # pydantic checks the keys of `dict[Identifier, X]` against the pattern; JSON Schema needs
    # `additionalProperties: false` to say so.
    for node in _objects(schema):
        if "patternProperties" in node and "properties" not in node:
            node.setdefault("additionalProperties", False)


def _property(schema: JsonSchema, path: str, ticket: JsonSchema) -> JsonSchema:
    """The schema of the ticket field at a fact path, from the ticket's node, following `$ref`s
    (also inside anyOf)."""
    node = ticket
    for part in path.split("."):
        node = _resolve(schema, node)["properties"][part]
    return node


def _resolve(schema: JsonSchema, node: JsonSchema) -> JsonSchema:
    for candidate in [node, *node.get("anyOf", [])]:
        if "$ref" in candidate:
            resolved: JsonSchema = schema["$defs"][candidate["$ref"].removeprefix("#/$defs/")]
            return resolved
    return node


def _money(node: JsonSchema) -> None:
    for branch in [node, *node.get("anyOf", [])]:
        if branch.get("type") == "number":
            branch.update(minimum=0, maximum=int(MONEY_MAX))
        elif branch.get("type") == "string":  # its digits: no sign, exponent, space or `_`
            branch["pattern"] = "^[0-9]+(\\.[0-9]+)?$"
    texts = any(branch.get("type") == "string" for branch in node.get("anyOf", []))
    written = "a number or numeric string" if texts else "a number"  # a decision writes numbers
    node["description"] = f"Money: {written}, 0 to 1000000000, at most 2 decimals."


# --- the condition language ---------------------------------------------------------------------


def _condition_defs() -> dict[str, JsonSchema]:
    conditions = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Condition"}}
    defs: dict[str, JsonSchema] = {
        "Condition": {
            "description": "A condition: a mapping of fact paths to tests, an `all`, `any` or `not` "
            "group (the only key of its mapping), or a list of conditions that must all hold.",
            "anyOf": [
                {**conditions, "description": "All of these conditions hold."},
                {"$ref": "#/$defs/Comparisons"},
                _group("all", {**conditions, "description": "Every condition holds."}),
                _group("any", {**conditions, "description": "At least one condition holds."}),
                _group(
                    "not",
                    {"$ref": "#/$defs/Condition", "description": "The condition (or list) does not hold."},
                ),
            ],
        },
        "ParamRef": {
            "description": "`{param: name}`: the effective value of a parameter of a compatible type.",
            "type": "object",
            "properties": {"param": {"type": "string", "pattern": f"^{_IDENTIFIER}$"}},
            "required": ["param"],
            "additionalProperties": False,
        },
        # Custom attributes and derived facts are ordered when numeric: then the literal is a number.
        "NumberOperand": {"anyOf": [_literal(FactType("number")), {"$ref": "#/$defs/ParamRef"}]},
    }
    properties: dict[str, JsonSchema] = {}
    for path, fact_type in [*FACT_TYPES.items(), *DECISION_TYPES.items()]:
        if fact_type.kind == "enum":
            name = "".join(part.capitalize() for part in re.split(r"[._]", path))
        else:
            name = fact_type.kind.capitalize()
        if f"{name}Test" not in defs:
            refs = [] if path in DECISION_TYPES else _fact_refs(fact_type)
            defs.update(_test(name, fact_type, refs))
        text = f"`{path}`: {fact_type.describe()}"
        if path in DECISION_TYPES:
            text += "; tested by rules of the decision stage, once the outcome is known"
        properties[path] = {"$ref": f"#/$defs/{name}Test", "description": text}
    defs.update(_test("Attribute", FactType("scalar"), []))
    defs.update(_test("Derived", None, []))
    attribute = ATTRIBUTE_NAME.pattern.removeprefix("^")
    defs["Comparisons"] = {
        "description": "Fact paths and their tests, all of which must hold: `path: value` (eq), "
        "`path: {op: operand, ...}`.",
        "type": "object",
        "minProperties": 1,
        "properties": properties,
        "patternProperties": {
            rf"^attributes\.{attribute}$": {
                "$ref": "#/$defs/AttributeTest",
                "description": "A custom attribute of the ticket: string, number or boolean.",
            },
            rf"^derived\.{_IDENTIFIER}$": {
                "$ref": "#/$defs/DerivedTest",
                "description": "A derived fact declared under `derived:`, of its declared type.",
            },
        },
        "additionalProperties": False,
    }
    return defs


def _group(key: str, value: JsonSchema) -> JsonSchema:
    return {"type": "object", "properties": {key: value}, "required": [key], "additionalProperties": False}


def _fact_refs(fact_type: FactType) -> list[str]:
    """Ticket facts a `{fact: path}` operand may name for a ticket fact of this type."""
    if fact_type.kind not in _FACT_REF_KINDS:
        return []
    return [path for path, other in FACT_TYPES.items() if other == fact_type]


def _literal(fact_type: FactType | None) -> JsonSchema:
    """A literal of a fact type as YAML writes it; None: a derived fact, whose type is declared."""
    if fact_type is None or fact_type.kind == "scalar":
        return {"type": ["string", "number", "boolean"]}
    if fact_type.kind == "enum":
        return {"type": "string", "enum": list(fact_type.values)}
    literals: dict[str, JsonSchema] = {
        "money": {"type": "number", "minimum": 0, "maximum": int(MONEY_MAX)},
        "integer": {"type": "integer", "minimum": 1 - _SAFE_INT, "maximum": _SAFE_INT - 1},
        "number": {"type": "number", "exclusiveMinimum": -_SAFE_INT, "exclusiveMaximum": _SAFE_INT},
        "boolean": {"type": "boolean"},
        "string": {"type": "string"},
        # No `format`: csrules reads ISO 8601 more liberally than RFC 3339, which editors check.
        "date": {"type": "string", "description": "A date: 2026-12-01."},
        "datetime": {
            "type": "string",
            "description": "A date and time with a UTC offset: 2026-11-23T10:00:00Z.",
        },
    }
    return literals[fact_type.kind]


def _test(name: str, fact_type: FactType | None, fact_refs: list[str]) -> dict[str, JsonSchema]:
    """`$defs` for the test of a fact path: `{name}Value` (a literal), `{name}Operand` (a literal or
    a reference) and `{name}Test`: an operand (eq) or `{op: operand, ...}`."""
    operand_refs: list[JsonSchema] = [{"$ref": f"#/$defs/{name}Value"}, {"$ref": "#/$defs/ParamRef"}]
    if fact_refs:
        operand_refs.append(
            {
                "description": "`{fact: path}`: another ticket fact of the same type.",
                "type": "object",
                "properties": {"fact": {"type": "string", "enum": fact_refs}},
                "required": ["fact"],
                "additionalProperties": False,
            }
        )
    operand = {"$ref": f"#/$defs/{name}Operand"}
    values = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_IN_VALUES,
        "items": {"$ref": f"#/$defs/{name}Value"},
    }
    operands: dict[str, JsonSchema] = {"eq": operand, "ne": operand, "in": values, "not_in": values}
    operands["exists"] = {"type": "boolean"}
    kind = fact_type.kind if fact_type else None
    if kind in _ORDERED_KINDS or kind in (None, "scalar"):
        ordered = operand if kind in _ORDERED_KINDS else {"$ref": "#/$defs/NumberOperand"}
        operands.update(dict.fromkeys(_ORDER_OPS, ordered))  # never mutated: `ops` copies each
    ops = {op: {**operands[op], "description": f"`{op}`: {_OPS[op]}"} for op in _OPS if op in operands}
    return {
        f"{name}Value": _literal(fact_type),
        f"{name}Operand": {"anyOf": operand_refs},
        f"{name}Test": {
            "anyOf": [
                operand,
                {"type": "object", "minProperties": 1, "properties": ops, "additionalProperties": False},
            ]
        },
    }
