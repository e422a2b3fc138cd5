"""Loading policy files: YAML errors and limits are PolicyErrors with file:line:column."""

from __future__ import annotations

import enum
import os
import shutil
import threading
import tracemalloc
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules.load import MAX_FILE_BYTES, find_case_files
from tests.helpers import NOW, ROOT, refund, write_policy


def policy_error(paths: object) -> csrules.PolicyError:
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(paths)  # type: ignore[arg-type]
    return info.value


def test_yaml_syntax_error_points_where_the_parser_found_it(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "rules:\n  - id: a\n    when: [unclosed\n")
    error = policy_error(path)
    assert (error.code, error.file, error.line, error.column) == ("yaml-syntax", str(path), 4, 1)
    assert str(error).startswith(f"{path}:4:1: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # the end of the file left a quote open: where it opened
            'rules:\n  - id: a\n    description: "d\n    rationale: r\n    then: {deny: true}\n',
            ":6:1: found unexpected end of stream (while scanning a quoted scalar at line 3, column 18)",
        ),
        (  # "second occurrence" of what: the anchor, and where the first is
            "description: &a x\npolicy: &a y\nrules: []\n",
            ":2:9: second occurrence (found duplicate anchor; first occurrence at line 1, column 14)",
        ),
        (
            "rules:\n  - id: a\n   description: x\n",
            ":3:4: did not find expected '-' indicator (while parsing a block collection at line 2, column 3)",
        ),
        ("a: b: c\n", ":1:5: mapping values are not allowed in this context"),
    ],
    ids=["open-quote", "duplicate-anchor", "indentation", "no-context"],
)
def test_a_yaml_syntax_error_says_what_the_parser_was_reading_and_where_it_started(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Only PyYAML's problem was kept: `found unexpected end of stream` at the end of the file
    named no line of the quote left open, and `second occurrence` no anchor."""
    path = write_policy(tmp_path, text)
    assert str(policy_error(path)) == f"{path}{expected}"


def test_every_file_s_yaml_syntax_error_is_listed(tmp_path: Path) -> None:
    """Only the first bad file's error was reported ("every problem" said the docs)."""
    write_policy(tmp_path, "rules: [\n", "a.yaml")
    write_policy(tmp_path, "rules: {\n", "b.yaml")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(tmp_path)
    assert [(Path(d.span.file).name, d.code) for d in info.value.diagnostics if d.span] == [
        ("a.yaml", "yaml-syntax"),
        ("b.yaml", "yaml-syntax"),
    ]


def test_bad_indentation_is_a_yaml_syntax_error(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "rules:\n  - id: a\n   description: x\n")
    error = policy_error(path)
    assert (error.code, error.line, error.column) == ("yaml-syntax", 3, 4)


def test_duplicate_key_is_reported_at_the_second_key(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "description: one\ndescription: two\nrules: []\n")
    error = policy_error(path)
    assert (error.code, error.line, error.column) == ("duplicate-key", 2, 1)
    assert error.diagnostics[0].help == "first defined at line 1"


def test_python_tags_are_refused_not_constructed(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "rules: !!python/object/apply:os.system ['echo pwned']\n")
    error = policy_error(path)
    assert error.code == "yaml-syntax"
    assert "python/object" in str(error)


def test_alias_expansion_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    path = write_policy(tmp_path, "\n".join(lines) + "\n")
    error = policy_error(path)
    assert error.code == "document-too-large"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a scalar anchored in a description, used as a role
            "parameters:\n  lim: {type: money, default: 20, description: &v boss}\nrules:\n  - id: a\n"
            "    description: d\n    rationale: r\n    then:\n      require_role: *v\n",
            [("invalid-value", 8, 21)],
        ),
        (  # a whole rule used twice: the second is where `*r` is, not the first again
            "rules:\n  - &r\n    id: a\n    description: d\n    rationale: r\n    then:\n"
            "      require_role: senior\n  - *r\n",
            [("duplicate-rule-id", 8, 5)],
        ),
        (  # one `when` shared by two rules: each rule's problem at its own rule
            "rules:\n  - id: a\n    description: d\n    rationale: r\n    when: &c [request.amont: 5]\n"
            "    then: {deny: true}\n  - id: b\n    description: d\n    rationale: r\n    when: [*c, *c]\n"
            "    then: {deny: true}\n",
            [("unknown-fact-path", 5, 15), ("unknown-fact-path", 10, 12), ("unknown-fact-path", 10, 16)],
        ),
        (  # a key whose value is an alias: the key is where it is written, not at the alias
            "description: &d a description\nrules:\n  - id: r1\n    description: *d\n    rationale: r\n"
            "    then:\n      require_role: senior\n      deny_reason:\n        *d\n",
            [("unknown-key", 8, 7)],
        ),
        (  # an alias as a key: where it is written, not at the anchor in the description
            "description: &path request.amout\nrules:\n  - id: r\n    description: d\n    rationale: r\n"
            "    when:\n      - *path : {gt: 5}\n    then: {deny: true}\n",
            [("unknown-fact-path", 7, 9)],
        ),
        (  # an alias key with an alias value in a valid rule's neighbour: the problem is in `r2`
            "description: &path severity\nrules:\n  - id: r1\n    description: d\n    rationale: r\n"
            "    when:\n      - request.amount: &test {gt: 1}\n    then: {deny: true}\n"
            "  - id: r2\n    description: d\n    rationale: r\n    when:\n      - *path : *test\n"
            "    then: {deny: true}\n",
            [("invalid-operator", 13, 17)],
        ),
    ],
    ids=["scalar", "rule", "condition", "key-of-an-alias", "alias-as-a-key", "alias-key-and-value"],
)
def test_a_value_reached_through_an_alias_is_reported_where_the_alias_is(
    tmp_path: Path, text: str, expected: list[tuple[str, int, int]]
) -> None:
    """It was reported at the anchor: the duplicate rule's "second" place was the first's."""
    error = policy_error(write_policy(tmp_path, text))
    assert [(d.code, d.span.line, d.span.column) for d in error.diagnostics if d.span] == expected


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    error = policy_error(write_policy(tmp_path, "# nothing here\n"))
    assert (error.code, error.line) == ("empty-file", 1)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    error = policy_error(tmp_path / "nope")
    assert (error.code, error.file) == ("no-such-file", str(tmp_path / "nope"))


def test_a_fifo_or_a_loop_of_links_is_named_for_what_it_is(tmp_path: Path) -> None:
    """Both were "no such file or directory", which they are not."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    for name, message in [
        ("pipe.yaml", "not a file or a directory (a FIFO, a socket or a device)"),
        ("loop.yaml", "cannot read the path (Too many levels of symbolic links)"),
        ("gone.yaml", "no such file or directory"),
    ]:
        error = policy_error(tmp_path / name)
        assert (error.code, error.file, error.message) == ("no-such-file", str(tmp_path / name), message)


def test_directory_without_policies_is_an_error(tmp_path: Path) -> None:
    assert policy_error(tmp_path).code == "no-policy-files"


def test_non_utf8_file_is_an_error_at_its_byte(tmp_path: Path) -> None:
    """It was reported at 1:1, wherever the byte was."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("policy: p\r\ndescription: caf\xe9\n".encode("latin-1"))
    error = policy_error(path)
    assert (error.code, error.line, error.column) == ("invalid-encoding", 2, 17)
    assert error.message == "not UTF-8 (invalid continuation byte)"


# A rule whose `then` holds only a comment, in which a character sits that YAML 1.1 (PyYAML)
# reads as a line break and editors show as nothing: the comment's tail became `deny: true`.
_HIDDEN = (
    "rules:\n  - id: r\n    description: d\n    rationale: r\n    when: [{category: stock}]\n"
    "    then:\n      require_role: senior   # was:HERE      deny: true\n"
)


@pytest.mark.parametrize(
    ("character", "message"),
    [
        (
            "\u2028",
            "U+2028 (LINE SEPARATOR) is not allowed: YAML 1.1 reads it as a line break that "
            "editors do not show; in a double-quoted string write it as \\u2028",
        ),
        (
            "\u2029",
            "U+2029 (PARAGRAPH SEPARATOR) is not allowed: YAML 1.1 reads it as a line break "
            "that editors do not show; in a double-quoted string write it as \\u2029",
        ),
        (
            "\x85",
            "U+0085 (NEXT LINE) is not allowed: YAML 1.1 reads it as a line break that editors "
            "do not show; in a double-quoted string write it as \\u0085",
        ),
        ("\x01", "control character U+0001 is not allowed (YAML allows tab, line feed and carriage return)"),
        ("\x9b", "control character U+009B is not allowed (YAML allows tab, line feed and carriage return)"),
        (
            "\ufffe",
            "noncharacter U+FFFE is not allowed",
        ),
    ],
)
def test_a_character_read_as_a_line_break_no_one_sees_is_refused_where_it_is(
    tmp_path: Path, character: str, message: str
) -> None:
    """The first three made the rest of a comment live policy (`deny: true` loaded) and every later
    line number wrong; the others were reported at 1:1 with a byte offset."""
    path = write_policy(tmp_path, "\ufeff" + _HIDDEN.replace("HERE", character))
    error = policy_error(path)
    assert (error.code, error.file, error.line, error.column) == ("invalid-character", str(path), 7, 36)
    assert error.message == message
    assert (
        csrules.load(write_policy(tmp_path, _HIDDEN.replace("HERE", " "))).bundle.rules[0].then.deny is False
    )


def test_oversized_file_is_an_error(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "description: " + "x" * (1 << 20) + "\n")
    assert policy_error(path).code == "file-too-large"


@pytest.mark.parametrize(("size", "too_large"), [(MAX_FILE_BYTES, False), (MAX_FILE_BYTES + 1, True)])
def test_the_file_size_limit_at_and_just_above(tmp_path: Path, size: int, too_large: bool) -> None:
    text = "policy: p\ndescription: d\nrules: []\n# "
    path = write_policy(tmp_path, text + "x" * (size - len(text) - 1) + "\n")
    assert path.stat().st_size == size
    if too_large:
        assert policy_error(path).code == "file-too-large"
    else:
        assert csrules.load(path).bundle.rules == ()


def test_a_huge_file_is_refused_without_being_read(tmp_path: Path) -> None:
    """A 2 GB policy file was read whole before its size was checked: 2 GB of memory, 18 s."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(2 << 30)  # sparse: no disk used
    tracemalloc.start()
    try:
        error = policy_error(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (error.code, str(error)) == ("file-too-large", f"{path}:1:1: files are limited to 1048576 bytes")
    assert peak < 8 << 20


def test_directory_files_load_in_sorted_order_with_stable_names(tmp_path: Path) -> None:
    rule = "rules:\n  - id: {id}\n    description: d\n    rationale: r\n    then: {{deny: true}}\n"
    (tmp_path / "b").mkdir()
    write_policy(tmp_path / "b", rule.format(id="second"), "x.yaml")
    write_policy(tmp_path, rule.format(id="first"), "a.yml")
    engine = csrules.load(tmp_path)
    assert [(r.id, r.source) for r in engine.bundle.rules] == [
        ("first", f"{tmp_path.name}/a.yml:2"),
        ("second", f"{tmp_path.name}/b/x.yaml:2"),
    ]


def test_a_list_of_paths_loads_each_once(tmp_path: Path) -> None:
    policies = ROOT / "policies"
    engine = csrules.load([policies / "conduct.yaml", str(policies / "conduct.yaml")])
    assert [r.id for r in engine.bundle.rules] == ["abusive_customer", "employee_behavior_complaint"]


RULE = "rules:\n  - {{id: r1, description: d, rationale: r, when: {{{when}}}, then: {{deny: true}}}}\n"
WHEN_COLUMN = 51  # where `when`'s value starts in RULE


@pytest.mark.parametrize(
    ("when", "column", "message"),
    [
        (
            "item.sku: !!timestamp foo",
            61,
            "`!!timestamp` needs a date (`2026-12-31`) or a date and time (`2026-12-31T10:00:00Z`), got `foo`",
        ),
        ("item.sku: !!map foo", 61, "`!!map` needs a mapping, got the scalar `foo`"),
        ("item.sku: !!seq foo", 61, "`!!seq` needs a sequence, got the scalar `foo`"),
        ("item.sku: !!bool yes", 61, "`!!bool` needs `true` or `false`, got `yes`"),
        ("item.sku: !!int 0x1F", 61, "`!!int` needs a decimal integer, got `0x1F`"),
        ("item.sku: !!float abc", 61, "`!!float` needs a decimal number, `.inf` or `.nan`, got `abc`"),
        ("item.sku: !!float +-.inf", 61, "`!!float` needs a decimal number, `.inf` or `.nan`, got `+-.inf`"),
        (
            'item.sku: !!float "1e12345"',
            61,
            "number `1e12345` has more than 30 digits before or after the point, or an exponent of more than 4 digits",
        ),
        (
            "item.sku: !!float 1e12345",
            61,
            "number `1e12345` has more than 30 digits before or after the point, or an exponent of more than 4 digits",
        ),
        (
            "!!python/name:os.system severity: high",
            51,
            "unsupported YAML tag `tag:yaml.org,2002:python/name:os.system`",
        ),
    ],
)
def test_standard_tags_on_the_wrong_value_are_policy_errors(
    tmp_path: Path, when: str, column: int, message: str
) -> None:
    """PyYAML raised AttributeError for `!!timestamp foo` and ConstructorError for `!!map foo`;
    a tag on a key was ignored; `!!bool yes`, `!!int 0x1F` and `!!float abc` were read as text, so
    `attributes.vip: !!bool yes` silently never held for `"vip": true`."""
    error = policy_error(write_policy(tmp_path, RULE.format(when=when)))
    assert (error.code, error.line, error.column, error.message) == ("yaml-syntax", 2, column, message)


@pytest.mark.parametrize(
    "number", ["0.1000000000000000000000000000000", "1e10000", "-1234567890123456789012345678901.5"]
)
def test_a_number_too_long_to_read_exactly_is_an_error_not_text(tmp_path: Path, number: str) -> None:
    """Read as the text "0.1000...", an `eq` on a number attribute silently never held."""
    error = policy_error(write_policy(tmp_path, RULE.format(when=f"attributes.ratio: {{eq: {number}}}")))
    assert (error.code, error.line, error.column) == ("yaml-syntax", 2, 74)
    assert error.message.endswith(
        "has more than 30 digits before or after the point, or an exponent of more than 4 digits"
    )


@pytest.mark.parametrize("number", ["1" * 30 + ".5", "0." + "1" * 30, "1e9999"])
def test_the_longest_numbers_are_read_as_numbers(tmp_path: Path, number: str) -> None:
    """At the limits the loader reads a number (then too large or too precise for an attribute);
    one digit more is the loader's error above."""
    error = policy_error(write_policy(tmp_path, RULE.format(when=f"attributes.ratio: {{eq: {number}}}")))
    assert (error.code, error.line, error.column) == ("type-mismatch", 2, 74)
    assert error.message.startswith("`attributes.ratio` eq: `attributes.ratio` is scalar, got ")


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("!!str 20", "20"),
        ("!!str 1e5", "1e5"),
        ("20", 20),
        ('"20"', "20"),
        ("!!bool TRUE", True),
        ("!!int 20", 20),
        ("!!float 2", Decimal(2)),
        ("yes", "yes"),
    ],
)
def test_a_written_str_tag_keeps_the_text(tmp_path: Path, written: str, value: object) -> None:
    engine = csrules.load(write_policy(tmp_path, RULE.format(when=f"attributes.code: {{eq: {written}}}")))
    (compare,) = engine.bundle.rules[0].when.items
    assert compare.operand == value
    assert type(compare.operand) is type(value)


def test_a_yaml_problem_under_an_anchor_is_one_where_it_is_written(tmp_path: Path) -> None:
    """It was reported once per alias using it, at the anchor each time, and the repeats lost the
    reason ("day is out of range for month")."""
    rule = "  - id: {}\n    description: d\n    rationale: r\n    when: {}\n    then: {{deny: true}}\n"
    text = "rules:\n" + rule.format("r1", "&w [{promise.delivery_date: {lt: 2026-02-30}}]")
    text += rule.format("r2", "*w") + rule.format("r3", "*w")
    error = policy_error(write_policy(tmp_path, text))
    assert [(d.code, d.span.line if d.span else None) for d in error.diagnostics] == [("yaml-syntax", 5)]
    assert error.message == "invalid value `2026-02-30` for `!!timestamp`: day is out of range for month"


def test_two_documents_say_one_was_expected(tmp_path: Path) -> None:
    error = policy_error(write_policy(tmp_path, "rules: []\n---\nrules: []\n"))
    assert (error.code, error.line, error.column) == ("yaml-syntax", 2, 1)
    assert error.message == "expected a single document in the stream, but found another document"


def test_a_directory_whose_name_is_not_utf8_loads_and_its_decisions_replay(tmp_path: Path) -> None:
    """Its name reached the policy digest as lone surrogates: UnicodeEncodeError (exit 3)."""
    odd = tmp_path / os.fsdecode(b"pol\xff")
    shutil.copytree(ROOT / "policies", odd)
    engine = csrules.load(odd)
    decision = engine.evaluate(refund("45.00"), now=NOW)
    assert decision.trace.steps[0].source.startswith("pol\\xff/")
    assert engine.verify(decision.to_json()).ok


def test_symbolic_links_in_a_directory_are_followed_or_fail_loudly(tmp_path: Path) -> None:
    """A dangling `*.yaml` link and every file under a linked directory were left out silently:
    the bundle loaded with fewer rules."""
    real = tmp_path / "release"
    shutil.copytree(ROOT / "policies", real)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "current").symlink_to(real, target_is_directory=True)
    (bundle / "current" / "loop").symlink_to(bundle, target_is_directory=True)  # a cycle ends
    engine = csrules.load(bundle)
    assert len(engine.bundle.rules) == len(csrules.load().bundle.rules) == 17
    assert engine.evaluate(refund("45.00"), now=NOW).outcome == "escalate"
    (bundle / "gone.yaml").symlink_to(tmp_path / "missing" / "gone.yaml")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(bundle)
    assert info.value.code == "no-such-file"
    assert info.value.file == str(bundle / "gone.yaml")


@pytest.mark.parametrize("links", [{"loop.yaml": "loop.yaml"}, {"x.yaml": "y.yaml", "y.yaml": "x.yaml"}])
def test_a_loop_of_links_in_a_directory_is_a_policy_error(tmp_path: Path, links: dict[str, str]) -> None:
    """`Path.resolve` raised RuntimeError ("Symlink loop") for a loop found while walking a
    directory: every command said "internal error", exit 3; the same link given by name was a
    PolicyError."""
    write_policy(tmp_path, "rules: []\n", name="a.yaml")
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    error = policy_error(tmp_path)
    assert [(d.code, d.message) for d in error.diagnostics] == [
        ("no-such-file", "cannot read the file (Too many levels of symbolic links)")
    ] * len(links)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ("", "paths: an empty path"),
        ([str(ROOT / "policies"), ""], "paths: an empty path"),
        (
            {str(ROOT / "policies")},
            "paths: paths must be a path or a list of paths, got a set (it has no order)",
        ),
        (b"policies", "paths: not a path: a bytes"),
        (3, "paths: paths must be a path or a list of paths, got an int"),
        ([], "paths: no policy paths given"),
    ],
)
def test_paths_that_are_not_an_ordered_list_of_paths_are_policy_errors(paths: object, message: str) -> None:
    """`load("")` (an unset variable) loaded every YAML file under the current directory; a set
    gave a bundle order and digest that changed with PYTHONHASHSEED; bytes raised TypeError."""
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(paths)  # type: ignore[arg-type]
    assert str(info.value) == message


class _FailingPath(os.PathLike[str]):
    def __init__(self, returns: object = None) -> None:
        self.returns = returns

    def __fspath__(self) -> str:
        if self.returns is None:
            raise RuntimeError("the caller's bug")
        return self.returns  # type: ignore[return-value]


def _failing_paths() -> Iterator[str]:
    yield str(ROOT / "policies")
    raise RuntimeError("the database went away")


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ("policies\0x", "paths: a path with a NUL character"),
        (Path("policies\0x"), "paths: a path with a NUL character"),
        ([str(ROOT / "policies"), "x\0"], "paths: a path with a NUL character"),
        (_FailingPath(), "paths: not a path: its __fspath__ failed (RuntimeError)"),
        (_FailingPath(returns=3), "paths: not a path: its __fspath__ failed (TypeError)"),
        (_failing_paths(), "paths: the paths could not be read: RuntimeError: the database went away"),
    ],
)
def test_paths_the_system_or_the_callers_objects_refuse_are_policy_errors(
    paths: object, message: str
) -> None:
    """A NUL in a path raised ValueError ("embedded null byte"); a PathLike or a generator that
    fails raised its own exception, past the PolicyError contract."""
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(paths)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_a_generator_of_paths_is_read_once_and_recorded_for_workers() -> None:
    engine = csrules.load(p for p in [ROOT / "policies"])  # type: ignore[arg-type]
    assert engine.policy_digest == csrules.load().policy_digest
    results = list(engine.evaluate_many([refund("45.00")], now=NOW, workers=2))
    assert [r.outcome for r in results] == ["escalate"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (False, "params: `params` must be a mapping of names to values, got bool"),
        (0, "params: `params` must be a mapping of names to values, got int"),
    ],
)
def test_params_that_are_not_a_mapping_are_policy_errors(params: object, message: str) -> None:
    """`params=False` passed validation (`params or {}`) and then raised TypeError."""
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(params=params)  # type: ignore[arg-type]
    assert str(info.value) == message


class _Currency(str, enum.Enum):  # noqa: UP042 - the idiom from before StrEnum, still common
    EUR = "EUR"


class _Limit(enum.IntEnum):
    SENIOR = 60


class _Sneaky(str):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of the caller's str subclass")


def test_parameter_values_of_subclasses_are_read_as_their_plain_values() -> None:
    """`(str, Enum)` members were refused as "Currency.EUR" (str() of the member), a str
    subclass's own `__str__` ran (its RuntimeError escaped load()), and a StrEnum member stayed in
    `engine.params` and the trace as the caller's object."""
    plain = csrules.load(params={"currency": "EUR", "senior_limit": 60, "front_line_limit": "25"})
    for params in (
        {"currency": _Currency.EUR, "senior_limit": _Limit.SENIOR, "front_line_limit": "25"},
        {"currency": _Sneaky("EUR"), "senior_limit": 60, "front_line_limit": _Sneaky("25")},
        {
            _Sneaky("currency"): enum.StrEnum("C", {"EUR": "EUR"}).EUR,
            "senior_limit": 60,
            "front_line_limit": "25",
        },
    ):
        engine = csrules.load(params=params)  # type: ignore[arg-type]
        assert engine.policy_digest == plain.policy_digest
        assert engine.params == plain.params
        assert [type(engine.params[n]) for n in ("currency", "senior_limit")] == [str, Decimal]
        decision = engine.evaluate(refund("55.00"), now=NOW)
        assert decision.to_json() == plain.evaluate(refund("55.00"), now=NOW).to_json()
        assert type(decision.trace.params["currency"]) is str


def test_a_path_the_system_refuses_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(tmp_path / ("x" * 5000))
    assert info.value.code == "no-such-file"
    assert info.value.message == "cannot read the path (File name too long)"


def test_a_directory_reached_through_a_link_and_itself_keeps_its_real_path(tmp_path: Path) -> None:
    """Which of the two paths named the files (and so the digest) depended on the order the file
    system listed `link` and `real` in."""
    digests = set()
    for order in (("real", "link"), ("link", "real")):
        root = tmp_path / "-".join(order) / "pol"
        root.mkdir(parents=True)
        shutil.copy(ROOT / "policies" / "conduct.yaml", root / "top.yaml")
        for name in order:
            if name == "real":
                (root / "real").mkdir()
                shutil.copy(ROOT / "policies" / "learning.yaml", root / "real" / "x.yaml")
            else:
                (root / "link").symlink_to("real", target_is_directory=True)
        engine = csrules.load(root)
        assert sorted({rule.source.split(":")[0] for rule in engine.bundle.rules}) == [
            "pol/real/x.yaml",
            "pol/top.yaml",
        ]
        digests.add(engine.policy_digest)
    assert len(digests) == 1


def test_a_fifo_socket_or_device_in_a_policy_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    """`os.walk` lists a FIFO among the files: reading `pipe.yaml` blocked `load` for good; then
    FIFOs, sockets and devices were left out silently (a `null.yaml` link to /dev/null, a FIFO
    `zz.yaml`): a policy file that is not read is a rule that silently stops applying."""
    shutil.copy(ROOT / "policies" / "conduct.yaml", tmp_path / "top.yaml")
    os.mkfifo(tmp_path / "pipe.yaml")
    os.mkfifo(tmp_path / "pipe.cases.yaml")
    (tmp_path / "null.yaml").symlink_to("/dev/null")
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            csrules.load(tmp_path)
        except csrules.PolicyError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "load blocked on a FIFO"
    (error,) = outcome
    assert isinstance(error, csrules.PolicyError)
    assert [(d.code, d.message, d.span.file if d.span else None) for d in error.diagnostics] == [
        ("no-such-file", "not a regular file (a FIFO, a socket or a device)", str(tmp_path / "null.yaml")),
        ("no-such-file", "not a regular file (a FIFO, a socket or a device)", str(tmp_path / "pipe.yaml")),
    ]

    assert find_case_files(tmp_path) == [tmp_path / "pipe.cases.yaml"]


def _unlistable(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Listing `directory` fails as a directory of mode 000 does for any user but root."""
    scandir = os.scandir

    def refusing(path: Any = ".") -> Any:
        if os.fspath(path) == os.fspath(directory):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)


def test_a_policy_subdirectory_that_cannot_be_listed_is_an_error_not_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`os.walk` skips a directory it cannot list: with `conduct.yaml` in a subdirectory of mode
    700 owned by another user, `csrules check` said "ok: 15 rules in 4 files" and an abusive
    caller's ticket was approved by a front-line agent."""
    bundle = tmp_path / "pol"
    shutil.copytree(ROOT / "policies", bundle)
    (bundle / "sub").mkdir()
    shutil.move(bundle / "conduct.yaml", bundle / "sub" / "conduct.yaml")
    _unlistable(monkeypatch, bundle / "sub")
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(bundle)
    (diagnostic,) = info.value.diagnostics
    expected = f"{bundle / 'sub'}:1:1: cannot read the directory (Permission denied)"
    assert (diagnostic.code, str(info.value)) == ("no-such-file", expected)
    # Case files are looked for in a whole project (`csrules test` searches `.`), where an
    # unrelated directory (a database's volume) may be unreadable: skipped there.
    (bundle / "sub" / "a.cases.yaml").write_text("cases: []\n", encoding="utf-8")
    assert find_case_files(bundle) == []
    _unlistable(monkeypatch, bundle)
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(bundle)
    assert str(info.value) == f"{bundle}:1:1: cannot read the directory (Permission denied)"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root lists any directory")
def test_a_policy_subdirectory_of_mode_000_is_an_error(tmp_path: Path) -> None:
    bundle = tmp_path / "pol"
    shutil.copytree(ROOT / "policies", bundle)
    (bundle / "sub").mkdir()
    shutil.move(bundle / "conduct.yaml", bundle / "sub" / "conduct.yaml")
    (bundle / "sub").chmod(0)
    try:
        with pytest.raises(csrules.PolicyError) as info:
            csrules.load(bundle)
        assert str(info.value) == f"{bundle / 'sub'}:1:1: cannot read the directory (Permission denied)"
    finally:
        (bundle / "sub").chmod(0o755)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a\nb": 1}, "params: unknown parameter `a\\nb`"),
        (
            {"front_line_limit": "1\n\x1b[2J2"},
            "params: parameter `front_line_limit` must be money, got `1\\n\\x1b[2J2`",
        ),
        ({"\ud800": 1}, "params: unknown parameter `\\ud800`"),
    ],
)
def test_a_policy_error_is_one_printable_line_whatever_the_caller_gave(
    params: dict[str, object], message: str
) -> None:
    """`str(err)` held the caller's line breaks and terminal escapes, and a lone surrogate made
    printing it raise UnicodeEncodeError (TicketError and AuditError already wrote them out)."""
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load(params=params)
    assert str(info.value) == message
    str(info.value).encode("utf-8")


def test_a_policy_files_odd_key_is_written_out_in_the_message(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path, 'rules:\n  - id: a\n    "descr\\nipton\\u202e": x\n    when: []\n    then: {deny: true}\n'
    )
    error = policy_error(path)
    [unknown] = [d for d in error.diagnostics if d.code == "unknown-key"]
    assert str(unknown).startswith(f"{path}:3:5: unknown key `descr\\nipton\\u202e`")
    assert "\n" not in str(error)


def test_a_plain_equals_sign_is_text_as_in_yaml_1_2(tmp_path: Path) -> None:
    """PyYAML (YAML 1.1) resolves a plain `=` to its `value` tag: `description: =` was refused as
    "unsupported YAML tag `tag:yaml.org,2002:value`", a tag no one wrote."""
    path = write_policy(
        tmp_path,
        "rules:\n  - id: r\n    description: =\n    rationale: r\n    when: [request.amount: {gt: 5}]\n"
        "    then: {actions: [{kind: k, params: {sign: =}}]}\n",
    )
    engine = csrules.load(path)
    assert engine.bundle.rules[0].description == "="
    decision = engine.evaluate(refund("6.00"), now=NOW)
    assert [dict(a.params) for a in decision.actions] == [{"sign": "="}]
    written = write_policy(tmp_path, "rules:\n  - id: r\n    description: !!value =\n")
    error = policy_error(written)
    assert (error.code, error.line, error.column) == ("yaml-syntax", 3, 18)
    assert error.message == "unsupported YAML tag `tag:yaml.org,2002:value`"


_MARKS = "\u0301\u0316"  # combining classes 230, 220: NFC sorts a run of them in quadratic time


def test_policy_text_with_more_than_30_combining_marks_in_a_row_is_refused(tmp_path: Path) -> None:
    """A 1 MiB file whose description was such a run took 296 s to load ("ok")."""
    rule = (
        "rules:\n  - id: a\n    description: {text}\n    rationale: r\n    then: {{require_role: senior}}\n"
    )
    at_limit = "a" + _MARKS * 15
    rules = csrules.load([write_policy(tmp_path, rule.format(text=at_limit))]).bundle.rules
    assert rules[0].description == unicodedata.normalize("NFC", at_limit)
    path = write_policy(tmp_path, rule.format(text="a" + _MARKS * 100_000))
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([path])
    assert str(info.value) == f"{path}:3:18: text with more than 30 combining marks in a row"
    assert info.value.diagnostics[0].code == "invalid-text"


def test_a_parameter_override_with_too_many_combining_marks_is_refused(tmp_path: Path) -> None:
    """`--param currency=...` of 200,000 such characters took 83 s to be refused."""
    path = write_policy(
        tmp_path,
        "parameters:\n  team: {type: string, default: desk, description: d}\n"
        "rules:\n  - {id: a, description: d, rationale: r, then: {require_role: senior}}\n",
    )
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([path], params={"team": "a" + _MARKS * 100_000})
    assert str(info.value) == (
        "params: parameter `team` must be string, got a string with more than 30 combining marks in a row"
    )
    at_limit = "a" + _MARKS * 15
    params = csrules.load([path], params={"team": at_limit}).bundle.params
    assert params["team"] == unicodedata.normalize("NFC", at_limit)


def test_text_multiplied_by_aliases_is_bounded(tmp_path: Path) -> None:
    """A 400,000-character description anchored once and used by 600 rules (a 467 KB file, well
    within the node limit) loaded in 2.6 s with 960 MiB, and each decision was 458 MiB of JSON."""
    long = "x" * 400_000
    rules = "".join(
        f"  - {{id: r{i}, description: *d, rationale: r, then: {{require_role: senior}}}}\n"
        for i in range(1, 6)
    )
    path = write_policy(
        tmp_path,
        f"rules:\n  - {{id: r0, description: &d {long}, rationale: r, then: {{require_role: senior}}}}\n{rules}",
    )
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([path])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "document-too-large"
    assert str(info.value) == (
        f"{path}:2:27: the document expands to more than 2097152 characters of text "
        "(aliases count each time they are used)"
    )
    # Four uses fit: 5 x 400,000 characters.
    fits = rules.replace("  - {id: r5,", "#")
    assert (
        len(
            csrules.load(
                [
                    write_policy(
                        tmp_path,
                        f"rules:\n  - {{id: r0, description: &d {long}, rationale: r, then: {{require_role: senior}}}}\n{fits}",
                    )
                ]
            ).bundle.rules
        )
        == 5
    )


def test_parse_value_of_more_text_than_a_file_may_hold_is_the_text() -> None:
    """The document text limit raised an internal exception out of `parse_value` (a --param)."""
    from csrules.load import MAX_TEXT_CHARACTERS, parse_value  # noqa: PLC0415

    text = "a" * (MAX_TEXT_CHARACTERS + 1)
    assert parse_value(text) == text
