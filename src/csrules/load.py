"""Stage 1, load: policy paths -> raw YAML documents with the source position of every node.

The only module that opens policy files. YAML is composed with PyYAML's SafeLoader (no tags that
construct objects, nothing executed) and converted by hand so that every key and value keeps its
1-based line and column, duplicate keys are errors, floats become exact Decimals, and alias
expansion is bounded. Output is plain data; no policy semantics here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path, PosixPath, PurePath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Diagnostic, PolicyError
from .source import SourceSpan
from .values import DATE_TEXT, DATETIME_TEXT, MAX_COMBINING_RUN, composed

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_TEXT_CHARACTERS",
    "PolicyPaths",
    "RawDocument",
    "find_case_files",
    "load_documents",
    "parse_value",
    "policy_paths",
    "read_document",
]

MAX_FILE_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_TEXT_CHARACTERS = 2 * 1024 * 1024
"""The most characters a document's strings and keys may hold, aliases counted at each use: twice
what a file of MAX_FILE_BYTES can write out (a decision's trace carries every considered rule's
description and rationale)."""
MAX_DEPTH = 64

Loc = tuple[str | int, ...]
_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)
_VALUE_TAG, _STR_TAG = "tag:yaml.org,2002:value", "tag:yaml.org,2002:str"
_YAML_TAGS = "tag:yaml.org,2002:"  # `!!x`: YAML's own namespace (`!x` is a local tag)
PolicyPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class RawDocument:
    """One policy file as plain data, with positions.

    Attributes:
        file: the path as the caller gave it (joined with the file's place in a directory):
            used in error messages, so an editor can open it.
        name: a stable display name for traces (`policies/empowerment.yaml`), independent of the
            working directory, so equal bundles give equal decisions on every machine.
        data: the document as dicts, lists and scalars (floats as Decimal).
        spans: the position of each value, by its location in `data`.
        key_spans: the position of each mapping key, by the location of its value.
    """

    file: str
    name: str
    data: Any
    spans: dict[Loc, SourceSpan] = field(default_factory=dict)
    key_spans: dict[Loc, SourceSpan] = field(default_factory=dict)

    def span(self, loc: Loc, *, key: bool = False) -> SourceSpan:
        """The position of `loc`, or of its nearest ancestor that has one."""
        table = self.key_spans if key else self.spans
        for end in range(len(loc), -1, -1):
            found = table.get(loc[:end]) or self.spans.get(loc[:end])
            if found is not None:
                return found
        return SourceSpan(self.file, 1, 1)


class _Converter:
    """Turns a composed YAML node tree into plain data and spans, within size limits."""

    def __init__(self, file: str, explicit: frozenset[tuple[int, int]] = frozenset()) -> None:
        self.file = file
        self.explicit = explicit  # where a scalar's tag is written (`!!str 20`), as (line, column)
        self.nodes = 0
        self.characters = 0
        self.constructor = SafeConstructor()
        self.spans: dict[Loc, SourceSpan] = {}
        self.key_spans: dict[Loc, SourceSpan] = {}
        self.problems: list[Diagnostic] = []

    def span(self, node: Node) -> SourceSpan:
        mark = node.start_mark
        return SourceSpan(self.file, mark.line + 1, mark.column + 1)

    def convert(self, node: Node, loc: Loc) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge(self.span(node), "nodes")
        if len(loc) > MAX_DEPTH:
            raise _TooLarge(self.span(node), "depth")
        self.spans[loc] = self.span(node)
        self._plain_equals(node)
        if node.tag not in _TAGS:
            # Only YAML's standard types: a tag such as !!python/object is refused, never built.
            self.problems.append(
                Diagnostic("yaml-syntax", f"unsupported YAML tag `{node.tag}`", self.span(node))
            )
            return None
        if isinstance(node, MappingNode):
            return self.mapping(node, loc)
        if isinstance(node, SequenceNode):
            return [self.convert(item, (*loc, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self.scalar(node)

    def _plain_equals(self, node: Node) -> None:
        """A plain `=` is text, as in YAML 1.2: PyYAML (YAML 1.1) resolves it to the `value` tag,
        which csrules refuses when it is written out (`!!value =`)."""
        if node.tag == _VALUE_TAG and (node.start_mark.line, node.start_mark.column) not in self.explicit:
            node.tag = _STR_TAG

    def mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(
                    Diagnostic("yaml-syntax", "merge keys (`<<`) are not supported", self.span(key_node))
                )
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    Diagnostic("yaml-syntax", "mapping keys must be plain strings", self.span(key_node))
                )
                continue
            self._plain_equals(key_node)  # `=:` is the key "=" (and no key of ours)
            if key_node.tag not in _TAGS:  # `!!python/name:os.system severity:` is no key of ours
                self.problems.append(
                    Diagnostic("yaml-syntax", f"unsupported YAML tag `{key_node.tag}`", self.span(key_node))
                )
                continue
            # Keys are always text: `no:` or `1:` must not turn into a bool or an int.
            key = str(key_node.value)
            self._count(key, key_node)
            if key in out:
                first = self.key_spans[(*loc, key)]
                self.problems.append(
                    Diagnostic(
                        "duplicate-key",
                        f"duplicate key `{key}`",
                        self.span(key_node),
                        f"first defined at line {first.line}",
                    )
                )
                continue
            self.key_spans[(*loc, key)] = self.span(key_node)
            out[key] = self.convert(value_node, (*loc, key))
        return out

    def _count(self, text: str, node: Node) -> None:
        """Add a string's characters to the document's text, aliases counted at each use: a long
        anchored description used as every rule's stays within the node limit."""
        self.characters += len(text)
        if self.characters > MAX_TEXT_CHARACTERS:
            raise _TooLarge(self.span(node), "text")

    def text(self, node: ScalarNode, text: str) -> str | None:
        """A string scalar, counted, in NFC; None (and a problem) when it cannot be kept."""
        self._count(text, node)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.problems.append(
                Diagnostic("yaml-syntax", "invalid Unicode (a lone surrogate)", self.span(node))
            )
            return None
        kept = composed(text)
        if kept is None:
            message = f"text with more than {MAX_COMBINING_RUN} combining marks in a row"
            self.problems.append(Diagnostic("invalid-text", message, self.span(node)))
        return kept

    def scalar(self, node: ScalarNode) -> Any:
        """A scalar with YAML 1.2 core-schema meaning (PyYAML resolves YAML 1.1).

        Only `true`/`false` are booleans (`no`, `on` stay strings: a rule id `no`, Norway's `NO`);
        only decimal numbers are numbers (`020` is 20, `1:30`, `0x1F` stay strings); floats become
        exact Decimals. A value PyYAML cannot build (2026-02-30) is a diagnostic, not a crash.
        """
        text = node.value
        tag = node.tag.rsplit(":", 1)[-1]
        explicit = (node.start_mark.line, node.start_mark.column) in self.explicit
        if explicit and tag in _TAG_NEEDS and not _fits(tag, text):
            # `!!bool yes`, `!!int 0x1F`: the writer asked for a type the text is not (in YAML 1.2)
            message = f"`!!{tag}` needs {_TAG_NEEDS[tag]}, got `{_cut(text)}`"
            self.problems.append(Diagnostic("yaml-syntax", message, self.span(node)))
            return None
        if tag == "bool" and text.lower() not in ("true", "false"):
            return text
        if tag == "int":
            if _LONG_INTEGER.fullmatch(text):
                self.problems.append(
                    Diagnostic(
                        "yaml-syntax", f"number `{_cut(text)}` has more than 20 digits", self.span(node)
                    )
                )
                return None
            return int(text) if _INTEGER.fullmatch(text) else text
        if (
            # a float, even `!!float "1e99999"`; plain text that reads as a number (not `!!str 1e99999`)
            (tag == "float" or (tag == "str" and not explicit and not node.style))
            and _NUMBER.fullmatch(text)
            and not _FLOAT.fullmatch(text)
        ):
            self.problems.append(  # read as text, `0.1000...0` would compare unequal to every number
                Diagnostic(
                    "yaml-syntax",
                    f"number `{_cut(text)}` has more than 30 digits before or after the point, or an "
                    "exponent of more than 4 digits",
                    self.span(node),
                )
            )
            return None
        if tag == "float":
            if _FLOAT.fullmatch(text) or _SPECIAL_FLOAT.fullmatch(text):
                return _decimal(text)
            return text
        if (
            tag == "str"
            and not node.style
            and not explicit  # `!!str 20` is the text "20"
            and _FLOAT.fullmatch(text)
            and any(c.isdigit() for c in text)
        ):
            return int(text) if _INTEGER.fullmatch(text) else _decimal(text)  # YAML 1.2: `1e-7` is a number
        if tag == "str":
            return self.text(node, text)
        if tag == "timestamp" and _SUBMICROSECONDS.search(text):
            # PyYAML would cut `.123456789` to microseconds, a value the policy does not say: refused
            # wherever it is (a date and time where text is expected is refused too).
            message = f"a date and time with more than 6 decimal places of a second: `{text[:48]}`"
            self.problems.append(Diagnostic("yaml-syntax", message, self.span(node), "quote it for text"))
            return None
        if tag == "timestamp" and not _fits(tag, text):
            # YAML 1.1's other forms (`2026-1-5 1:00:00 +5`, `2026-11-23t10:00:00z`) are text, as
            # the same quoted is: dates and times are written as a ticket writes them.
            return self.text(node, text)
        if tag in ("map", "seq"):  # `!!map foo`: a scalar where the tag says otherwise
            self.problems.append(
                Diagnostic(
                    "yaml-syntax",
                    f"`!!{tag}` needs a {_KIND[tag]}, got the scalar `{_cut(text)}`",
                    self.span(node),
                )
            )
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except _CONSTRUCT_FAILURES as exc:  # PyYAML raises AttributeError for `!!timestamp foo`
            reason = f": {exc}" if isinstance(exc, ValueError | OverflowError) else ""
            self.problems.append(
                Diagnostic(
                    "yaml-syntax", f"invalid value `{_cut(text)}` for `!!{tag}`{reason}", self.span(node)
                )
            )
            return None


# What PyYAML's constructors raise for a value its tag cannot have (anything else, such as a
# request timeout a signal handler raised meanwhile, goes on as it is: not the file's fault).
_CONSTRUCT_FAILURES = (ValueError, ArithmeticError, AttributeError, TypeError, LookupError, yaml.YAMLError)

_INTEGER = re.compile(r"[-+]?[0-9]{1,20}")
_LONG_INTEGER = re.compile(r"[-+]?[0-9]{21,}")
_FLOAT = re.compile(r"[-+]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][-+]?[0-9]{1,4})?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")  # YAML's spellings
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")  # _FLOAT, any length
_KIND = {"map": "mapping", "seq": "sequence"}
_SUBMICROSECONDS = re.compile(r"\.[0-9]{7}")  # a fraction of a second finer than microseconds


def _cut(text: str) -> str:
    return text if len(text) <= 24 else text[:24] + "..."


def parse_value(text: str) -> Any:
    """Read one scalar the way policy files are read (`35` is 35, `yes` is a string, `1.5` a
    Decimal); anything that is not a plain scalar comes back as the text itself. For `--param`.

    Raises:
        ValueError: one of YAML's own tags is written that csrules refuses in a file (`!!bool yes`,
            `!!int 0x1F`, `!!python/object:x y`), with the file's message: its value is not the
            text either. Text that starts with a single `!` (`!important`) is text. Or a number
            longer than a file may write (`123456789012345678901`, `1e12345`): an error there
            too, never read as text.
    """
    try:  # as a file is composed: within its limits, and knowing where a tag is written (`!!str 20`)
        node, explicit, _ = _compose(text)
    except (yaml.YAMLError, _TooDeep, RecursionError):  # `[[[...` 5,000 deep
        return text
    if not isinstance(node, ScalarNode):
        return text
    converter = _Converter("<param>", explicit)
    try:
        value = converter.convert(node, ())
    except _TooLarge:  # more text than a file may hold: the text as typed, which validation refuses
        return text
    if converter.problems:
        if explicit and node.tag.startswith(_YAML_TAGS):  # `!!bool yes`: not silently its text
            raise ValueError(converter.problems[0].message)
        if not node.style and _NUMBER.fullmatch(node.value):  # a number too long, as in a file
            raise ValueError(converter.problems[0].message)
        return text  # not YAML (`a: b`), or a local tag (`!important`, `!=`): the text as typed
    return value


class _TooLarge(Exception):
    def __init__(self, span: SourceSpan, what: str) -> None:
        self.span = span
        self.what = what


class _TooDeep(Exception):
    def __init__(self, mark: Any, nodes: bool) -> None:
        self.mark = mark
        self.nodes = nodes


class _Loader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_DEPTH levels or MAX_NODES nodes: PyYAML composes
    recursively, and a document of a few thousand nested `[` would otherwise exhaust Python's
    stack; the node count stops a flat document of tiny nodes early."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH + 1 or self._nodes > MAX_NODES:
                raise _TooDeep(self.peek_event().start_mark, self._nodes > MAX_NODES)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _decimal(text: str) -> Decimal:
    cleaned = text.replace("_", "").lower()
    special = {".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity", ".nan": "NaN"}
    try:
        return Decimal(special.get(cleaned, cleaned))
    except InvalidOperation:  # pragma: no cover - the YAML resolver only tags valid floats
        return Decimal("NaN")


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_LEAF = (yaml.ScalarEvent, yaml.AliasEvent)


class _Places:
    """Where each alias is used, by the location of the value it stands for, followed through a
    document's events: a composed alias is the anchored node itself, whose marks are the anchor's,
    so an error in `require_role: *v` would point at `&v`, wherever that is."""

    _UNKNOWN = object()  # the key of a mapping whose key is not plain text: nothing is located under it

    def __init__(self) -> None:
        self.aliases: dict[Loc, tuple[int, int]] = {}  # location -> (line, column), 0-based
        # A key that is an alias (`*path : {gt: 5}`), by the location of its value: where it is.
        self.keys: dict[Loc, tuple[int, int]] = {}
        self._anchors: dict[str, str] = {}  # each anchored scalar's text, for an alias used as a key
        # One frame per open mapping or sequence: [its key or index so far, awaiting a key?]
        self._frames: list[list[Any]] = []

    def event(self, event: Any) -> None:
        frames = self._frames
        if isinstance(event, _CLOSE):
            frames.pop()
            self._done()
            return
        if not isinstance(event, (*_OPEN, *_LEAF)):
            return
        if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
            self._anchors[event.anchor] = str(event.value)
        top = frames[-1] if frames else None
        if top is not None and top[1]:  # a mapping's key
            key: Any = self._UNKNOWN
            if isinstance(event, yaml.ScalarEvent):
                key = str(event.value)
            elif isinstance(event, yaml.AliasEvent):  # an anchored scalar's text, or unknown
                key = self._anchors.get(event.anchor or "", self._UNKNOWN)
            top[0], top[1] = key, False
            loc = tuple(frame[0] for frame in frames)
            mark = event.start_mark if isinstance(event, yaml.AliasEvent) else None
            if mark is not None and self._UNKNOWN not in loc:
                self.keys[loc] = (mark.line, mark.column)
            if isinstance(event, _OPEN):  # a mapping or sequence as a key: skipped as a whole
                frames.append([self._UNKNOWN, False])
            return
        if isinstance(event, yaml.AliasEvent) and event.start_mark is not None:
            loc = tuple(frame[0] for frame in frames)
            if self._UNKNOWN not in loc:
                self.aliases[loc] = (event.start_mark.line, event.start_mark.column)
        if isinstance(event, yaml.MappingStartEvent):
            frames.append([None, True])
        elif isinstance(event, yaml.SequenceStartEvent):
            frames.append([0, False])
        else:
            self._done()

    def _done(self) -> None:
        """A value ended: its mapping awaits the next key, its sequence the next item."""
        if self._frames:
            top = self._frames[-1]
            if isinstance(top[0], int):  # a sequence's index (a mapping's key is text, None or unknown)
                top[0] += 1
            else:
                top[1] = True


def _compose(text: str) -> tuple[Node | None, frozenset[tuple[int, int]], _Places]:
    """The document's node tree, where a scalar has a tag written out (a node does not say), and
    where each alias is used (`_Places`).

    Composed with LibYAML when PyYAML has it (6x faster), after a pass over its events that
    stops a document past MAX_DEPTH or MAX_NODES before anything recursive runs and notes the
    written tags; else with the pure-Python `_Loader`, which checks the same limits while
    composing. Both give the same nodes, marks and tags (the resolver is PyYAML's Python one
    either way)."""
    libyaml = yaml.__with_libyaml__
    depth = nodes = 0
    explicit: set[tuple[int, int]] = set()
    places = _Places()
    track = "*" in text  # no alias without one: most documents skip following places (~3% of a load)
    for event in yaml.parse(text, Loader=yaml.CSafeLoader if libyaml else yaml.SafeLoader):
        if track:
            places.event(event)
        if isinstance(event, yaml.ScalarEvent) and event.tag not in (None, "!") and event.start_mark:
            explicit.add((event.start_mark.line, event.start_mark.column))
        if isinstance(event, _OPEN):
            depth += 1
            nodes += 1
        elif isinstance(event, _CLOSE):
            depth -= 1
        elif isinstance(event, _LEAF):
            nodes += 1
        if depth > MAX_DEPTH + 1 or nodes > MAX_NODES:
            raise _TooDeep(event.start_mark, nodes > MAX_NODES)
    node = yaml.compose(text, Loader=yaml.CSafeLoader if libyaml else _Loader)
    return node, frozenset(explicit), places


def _yaml_context(exc: yaml.MarkedYAMLError) -> str | None:
    """What the parser was reading when it found the problem, and where that started, as the hint
    of its diagnostic: `while scanning a quoted scalar at line 3, column 18` points at the quote an
    end of stream left open, `found duplicate anchor 'a'; first occurrence at line 1, column 14`
    names the anchor a "second occurrence" repeats."""
    if not exc.context:
        return None
    context = " ".join(str(exc.context).split())
    where, found = exc.context_mark, exc.problem_mark
    if where is None or (found is not None and (where.line, where.column) == (found.line, found.column)):
        return context
    return f"{context} at line {where.line + 1}, column {where.column + 1}"


def _parse(file: str, name: str, text: str) -> RawDocument:
    try:
        node, explicit, places = _compose(text)
    except _TooDeep as exc:
        span = SourceSpan(file, exc.mark.line + 1, exc.mark.column + 1)
        limit = f"{MAX_NODES} nodes" if exc.nodes else f"a nesting depth of {MAX_DEPTH}"
        message = f"the document expands to more than {limit} (aliases count each time they are used)"
        raise PolicyError([Diagnostic("document-too-large", message, span)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        said = [exc.problem or exc.context or "invalid YAML"]
        if exc.problem and str(exc.context or "").startswith("expected"):  # not "while parsing ..."
            said.insert(0, str(exc.context))  # "expected a single document in the stream, but found ..."
        problem = " ".join(", ".join(str(part) for part in said).split())
        hint = _yaml_context(exc) if exc.problem and len(said) == 1 else None
        if "maximum nesting depth" in problem:
            # LibYAML >= 0.2.6 (PyYAML 6.0.4 wheels) stops at 1,000 levels while scanning ahead,
            # which can come before the event that would pass MAX_DEPTH: the same limit, exceeded.
            message = f"the document expands to more than a nesting depth of {MAX_DEPTH} ({problem})"
            raise PolicyError(
                [Diagnostic("document-too-large", message, SourceSpan(file, line, column))]
            ) from None
        found = Diagnostic("yaml-syntax", problem, SourceSpan(file, line, column), hint)
        raise PolicyError([found]) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise PolicyError([Diagnostic("yaml-syntax", message, SourceSpan(file, 1, 1))]) from None
    if node is None:
        raise PolicyError(
            [
                Diagnostic(
                    "empty-file",
                    "the file holds no YAML document (it is empty or only comments)",
                    SourceSpan(file, 1, 1),
                )
            ]
        )
    converter = _Converter(file, explicit)
    try:
        data = converter.convert(node, ())
    except _TooLarge as exc:
        limit = {"nodes": f"{MAX_NODES} nodes", "depth": f"a nesting depth of {MAX_DEPTH}"}.get(
            exc.what, f"{MAX_TEXT_CHARACTERS} characters of text"
        )
        message = f"the document expands to more than {limit} (aliases count each time they are used)"
        raise PolicyError([Diagnostic("document-too-large", message, exc.span)]) from None
    if converter.problems:
        # A value under an anchor is converted once per alias that uses it: its YAML-level
        # problem (a tag, a date) is one, where the value is written.
        unique: dict[tuple[str, SourceSpan | None], Diagnostic] = {}
        for found in converter.problems:
            unique.setdefault((found.code, found.span), found)  # the first: later ones may say less
        raise PolicyError(list(unique.values()))
    spans, key_spans = converter.spans, converter.key_spans
    for loc, (row, column) in places.keys.items():  # a key that is an alias is where it is written
        if loc in key_spans:
            key_spans[loc] = SourceSpan(file, row + 1, column + 1)
    aliases = places.aliases
    if aliases:  # a value reached through an alias is where the alias is used, not the anchor
        # A key is written where it is: only a key inside the alias's value (a strict prefix) moves.
        for table, own in ((spans, 0), (key_spans, 1)):
            for loc in table:
                ends = range(len(loc) - own, 0, -1)
                used = next((aliases[loc[:end]] for end in ends if loc[:end] in aliases), None)
                if used is not None:
                    table[loc] = SourceSpan(file, used[0] + 1, used[1] + 1)
    return RawDocument(file, name, data, spans, key_spans)


def _shown(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (os.fsdecode keeps them as lone surrogates,
    which no JSON reader takes back) written as `\\xff`. Rules' `source` in traces hold it."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def policy_paths(paths: object) -> list[str]:
    """The paths a caller gave (`PolicyPaths`), as a list of non-empty path strings in order.

    Raises:
        PolicyError: not a path or an ordered collection of paths (a set has no order: the bundle
            order and digest would change from run to run), an empty path, a bytes path.
    """

    def refused(message: str) -> PolicyError:
        return PolicyError([Diagnostic("no-such-file", message, scope="paths")])

    def one(entry: object) -> str:
        try:  # a PathLike of the caller's whose __fspath__ raises or returns no str
            text = os.fspath(entry) if isinstance(entry, str | os.PathLike) else entry
        except Exception as exc:
            if isinstance(entry, str) or type(entry) in _STANDARD_PATHS:
                raise  # no code of the caller's ran: a signal handler's exception (a timeout)
            raise refused(f"not a path: its __fspath__ failed ({type(exc).__name__})") from None
        if not isinstance(text, str):
            raise refused(f"not a path: {_a(type(text).__name__)}")
        text = str.__str__(text)  # a subclass's own methods never run later (values.plain)
        if not text:
            raise refused("an empty path")
        if "\0" in text:  # the system refuses it: ValueError from os.stat
            raise refused("a path with a NUL character")
        return text

    if isinstance(paths, str | os.PathLike | bytes):
        return [one(paths)]
    if isinstance(paths, Set | Mapping) or not isinstance(paths, Iterable):
        what = "a set (it has no order)" if isinstance(paths, Set) else _a(type(paths).__name__)
        raise refused(f"paths must be a path or a list of paths, got {what}")
    try:
        entries = list(paths)
    except Exception as exc:  # a generator of the caller's that raises
        if type(paths) in (list, tuple):
            raise  # no code of the caller's ran: a signal handler's exception (a timeout)
        raise refused(f"the paths could not be read: {type(exc).__name__}: {exc}") from None
    return [one(entry) for entry in entries]


_STANDARD_PATHS = frozenset({PurePath, PurePosixPath, PureWindowsPath, Path, PosixPath, WindowsPath})


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _walk(directory: Path, *, strict: bool = True) -> Iterator[Path]:
    """Everything under `directory` but directories: regular files, and also FIFOs, sockets,
    devices and symbolic links to missing files, which reading then refuses (`no-such-file`)
    instead of their being left out: a policy file that is silently not read is a rule that
    silently stops applying.

    Symbolic links to directories are followed after the real directories, each real directory
    once (a link cycle ends): a directory reached both ways keeps its real path, whatever order
    the file system lists names in.

    Raises:
        OSError: a directory below `directory` (or itself) cannot be listed (`os.walk` would skip
            it, and its files with it); with `strict=False` (looking for case files in a project,
            where an unrelated directory, a database's volume, may be unreadable) it is skipped.
    """
    seen: set[str] = set()
    queue = [directory]
    while queue:
        links: list[Path] = []
        for top in queue:
            listing = os.walk(top, onerror=_unlistable if strict else None)
            for root, dirs, files in listing:  # links to directories: listed, not entered
                if os.path.realpath(root) in seen:
                    dirs[:] = []
                    continue
                seen.add(os.path.realpath(root))
                dirs.sort()
                links.extend(Path(root, name) for name in dirs if os.path.islink(os.path.join(root, name)))
                for name in sorted(files):
                    yield Path(root, name)
        queue = [link for link in links if os.path.realpath(link) not in seen]


def _unlistable(exc: OSError) -> None:
    raise exc


def _listing_error(exc: OSError, span: SourceSpan) -> PolicyError:
    """The error for a directory that cannot be listed, named by its path as the files below it
    are in their errors (`policies/private`); `span` names the directory the caller gave."""
    if isinstance(exc.filename, str):
        span = SourceSpan(_shown(exc.filename), 1, 1)
    message = f"cannot read the directory ({exc.strerror})" if exc.strerror else "cannot read the directory"
    return PolicyError([Diagnostic("no-such-file", message, span)])


def _files(given: str) -> Iterator[tuple[Path, str]]:
    """Yield (path, stable display name) for one path the caller gave."""
    path = Path(given)
    span = SourceSpan(_shown(given), 1, 1)
    try:
        if path.is_dir():
            try:
                listed = [p for p in _walk(path) if p.suffix in (".yaml", ".yml") and not _is_case_file(p)]
            except OSError as exc:
                raise _listing_error(exc, span) from None
            found = sorted(listed, key=lambda p: p.relative_to(path).as_posix())
            if not found:
                raise PolicyError(
                    [Diagnostic("no-policy-files", "no *.yaml or *.yml files in the directory", span)]
                )
            for p in found:
                yield p, _shown(f"{path.resolve().name}/{p.relative_to(path).as_posix()}")
        elif path.is_file():
            yield path, _shown(path.name)
        else:
            raise _neither(path, span)
    except OSError as exc:  # a directory that cannot be read
        raise _path_error(exc, span) from None


def _neither(path: Path, span: SourceSpan) -> PolicyError:
    """The error for a path that is neither a file nor a directory, saying why."""
    try:
        path.stat()
    except OSError as exc:  # a missing file, a loop of links, a name too long
        return _path_error(exc, span)
    return PolicyError(
        [Diagnostic("no-such-file", "not a file or a directory (a FIFO, a socket or a device)", span)]
    )


def _path_error(exc: OSError, span: SourceSpan) -> PolicyError:
    missing = isinstance(exc, FileNotFoundError)
    message = "no such file or directory" if missing else f"cannot read the path ({exc.strerror})"
    return PolicyError([Diagnostic("no-such-file", message, span)])


def read_document(path: Path, name: str | None = None) -> RawDocument:
    """Read and parse one YAML file with positions (a policy file or a policy case file).

    Raises:
        PolicyError: unreadable file, size limit, encoding, YAML syntax, duplicate key, unsupported tag.
    """
    file = str(path)
    span = SourceSpan(file, 1, 1)
    try:
        # A FIFO or a device found in a directory could block the load, or read as an empty file:
        # refused before it is opened (one put in its place between the two is the writer's doing).
        if not stat.S_ISREG(path.stat().st_mode):
            raise PolicyError(
                [Diagnostic("no-such-file", "not a regular file (a FIFO, a socket or a device)", span)]
            )
        with path.open("rb") as handle:  # one byte past the limit tells: a 2 GB file is not read whole
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyError(
            [Diagnostic("no-such-file", f"cannot read the file ({exc.strerror})", span)]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        message = f"files are limited to {MAX_FILE_BYTES} bytes"
        raise PolicyError([Diagnostic("file-too-large", message, span)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8")  # valid up to the first bad byte
        where = SourceSpan(file, *_position(before, len(before)))
        message = f"not UTF-8 ({exc.reason})"
        raise PolicyError([Diagnostic("invalid-encoding", message, where)]) from None
    odd = _UNREADABLE.search(text)
    if odd is not None:
        raise PolicyError(
            [
                Diagnostic(
                    "invalid-character",
                    _unreadable(odd.group()),
                    SourceSpan(file, *_position(text, odd.start())),
                )
            ]
        )
    return _parse(file, name or path.name, text)


# What YAML does not allow in a file (C0 and C1 controls, U+FFFE, U+FFFF; tab, line feed and
# carriage return aside), and the three characters YAML 1.1 (PyYAML) reads as line breaks where
# YAML 1.2, editors, grep and reviewers see none: U+0085, U+2028, U+2029. A line break no one
# sees would make the rest of a comment live policy, and every later line number wrong.
_UNREADABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INVISIBLE_BREAKS = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}


def _unreadable(character: str) -> str:
    code = f"U+{ord(character):04X}"
    if character in _INVISIBLE_BREAKS:
        return (
            f"{code} ({_INVISIBLE_BREAKS[character]}) is not allowed: YAML 1.1 reads it as a line break "
            f"that editors do not show; in a double-quoted string write it as \\u{ord(character):04x}"
        )
    if character in "\ufffe\uffff":
        return f"noncharacter {code} is not allowed"
    return f"control character {code} is not allowed (YAML allows tab, line feed and carriage return)"


# What an explicit standard tag needs of its scalar (YAML 1.2 core schema, as `scalar` reads it).
_TAG_NEEDS = {
    "bool": "`true` or `false`",
    "int": "a decimal integer",
    "float": "a decimal number, `.inf` or `.nan`",
    "timestamp": "a date (`2026-12-31`) or a date and time (`2026-12-31T10:00:00Z`)",
}


def _fits(tag: str, text: str) -> bool:
    if tag == "bool":
        return text.lower() in ("true", "false")
    if tag == "int":
        return bool(_INTEGER.fullmatch(text) or _LONG_INTEGER.fullmatch(text))
    if tag == "timestamp":  # as a ticket writes them; YAML 1.1 also takes `2026-1-5 1:00:00 +5`
        return bool(DATE_TEXT.fullmatch(text) or DATETIME_TEXT.fullmatch(text))
    # Any length: a number too long to read exactly gets its own message in `scalar`.
    return bool(_NUMBER.fullmatch(text) or _SPECIAL_FLOAT.fullmatch(text))


def _position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column (in characters, a leading BOM not counted) of `text[index]`,
    lines ending at LF, CR LF or CR as YAML counts them."""
    before = text[:index]
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    line = before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    column = index - line_start + 1
    if line == 1 and before.startswith("\ufeff"):
        column -= 1
    return line, column


def find_case_files(paths: PolicyPaths) -> list[Path]:
    """Policy case files (`*.cases.yaml`, `*.cases.yml`) under `paths`, sorted; files given by name
    are taken as they are. A file reached twice (given twice, or by a file and its directory)
    is taken once, where it is first reached: its cases would run, and count, twice."""
    found: list[Path] = []
    for entry in policy_paths(paths):
        path = Path(entry)
        if path.is_dir():
            found.extend(sorted(p for p in _walk(path, strict=False) if _is_case_file(p)))
        elif path.is_file():
            found.append(path)
        else:  # as `load` says it of a policy path
            raise _neither(path, SourceSpan(str(path), 1, 1))
    first: dict[str, Path] = {}
    for p in found:
        first.setdefault(os.path.realpath(p), p)
    return list(first.values())


def _is_case_file(path: Path) -> bool:
    return path.name.endswith((".cases.yaml", ".cases.yml"))


def load_documents(paths: PolicyPaths) -> list[RawDocument]:
    """Read and parse every policy file under `paths`, in a deterministic order.

    Args:
        paths: a directory (every *.yaml/*.yml below it, sorted, except `*.cases.yaml` case files),
            a file, or a list of them (in the order given).

    Raises:
        PolicyError: unreadable file, size limit, YAML syntax, duplicate key, unsupported tag.
    """
    given = policy_paths(paths)
    if not given:
        raise PolicyError([Diagnostic("no-policy-files", "no policy paths given", scope="paths")])
    documents: list[RawDocument] = []
    problems: list[Diagnostic] = []  # every file's, not only the first bad file's
    seen: set[Path] = set()
    for entry in given:
        for path, name in _files(entry):
            real = Path(os.path.realpath(path))  # `Path.resolve` raises RuntimeError for a loop of links
            if real in seen:
                continue
            seen.add(real)
            try:
                documents.append(read_document(path, name))
            except PolicyError as error:
                problems.extend(error.diagnostics)
    if problems:
        raise PolicyError(problems)
    return documents
