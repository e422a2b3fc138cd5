"""The `csrules` command, run as a subprocess: exit codes, one-line errors, parsed JSON output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from csrules.cli.main import main
from tests.helpers import ROOT, write_policy
from tests.helpers import run_cli as run

EXAMPLES = ROOT / "examples" / "tickets"
NOW = "2026-11-23T15:00:00Z"


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_eval_json_is_the_decision(tmp_path: Path) -> None:
    result = run("eval", str(EXAMPLES / "loyal_refund_45.json"), "--now", NOW, "--format", "json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert (decision["outcome"], decision["required_role"]) == ("approve", "front_line")
    assert decision["trace"]["evaluated_at"] == NOW
    assert decision["trace"]["facts"]["request"]["amount"] == 45.0


def test_eval_jsonl_appends_to_a_file_coverage_reads(tmp_path: Path) -> None:
    """`eval --format json >> decisions.jsonl` wrote indented JSON, which `coverage` refused."""
    ticket = str(EXAMPLES / "loyal_refund_45.json")
    line = run("eval", ticket, "--now", NOW, "--format", "jsonl").stdout
    assert line.count("\n") == 1
    assert json.loads(line) == json.loads(run("eval", ticket, "--now", NOW, "--format", "json").stdout)
    path = tmp_path / "decisions.jsonl"
    path.write_text(line * 2, encoding="utf-8")
    result = run("coverage", str(path))
    assert result.returncode == 0, result.stderr


def test_eval_text_explains(tmp_path: Path) -> None:
    result = run("eval", str(EXAMPLES / "abusive_caller.json"), "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Ticket T-1002: ESCALATE to supervisor")


def test_eval_reads_standard_input() -> None:
    ticket = (EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8")
    result = run("eval", "-", "--now", NOW, "--format", "json", stdin=ticket)
    assert json.loads(result.stdout)["ticket_id"] == "T-1003"


def test_eval_param_overrides_a_limit() -> None:
    args = ("eval", str(EXAMPLES / "refund_over_front_line_limit.json"), "--now", NOW, "--format", "json")
    assert json.loads(run(*args).stdout)["required_role"] == "senior"
    assert json.loads(run(*args, "--param", "front_line_limit=45").stdout)["required_role"] == "front_line"


def test_a_deeply_nested_param_value_is_bad_input_not_an_internal_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`[` 500 deep exhausted the recursion of PyYAML's composer: exit 3, "internal error"."""
    ticket = str(EXAMPLES / "refund_over_front_line_limit.json")
    assert main(["eval", ticket, "--now", NOW, "--param", "front_line_limit=" + "[" * 5000]) == 2
    err = capsys.readouterr().err
    assert err.startswith("csrules: error: params: parameter `front_line_limit` must be money, got `[[[[")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("NaN", "NaN is not JSON"),
        ("-1e400", "the number -1e400 cannot be read exactly (it would read as -inf)"),
    ],
)
def test_a_ticket_number_json_cannot_hold_is_invalid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], number: str, problem: str
) -> None:
    ticket = tmp_path / "t.json"
    ticket.write_text('{"id": "T", "n": ' + number + "}", encoding="utf-8")
    assert main(["eval", str(ticket), "--now", NOW]) == 2
    assert capsys.readouterr().err == f"csrules: error: {ticket}: invalid JSON: {problem}\n"


def test_a_ticket_with_a_huge_number_says_so_in_its_own_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It passed on Python's advice: "use sys.set_int_max_str_digits() to increase the limit"."""
    ticket = tmp_path / "big.json"
    ticket.write_text('{"id": "T", "n": ' + "1" * 5000 + "}", encoding="utf-8")
    assert main(["eval", str(ticket), "--now", NOW]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {ticket}: invalid JSON: a whole number of more than 4,300 digits\n"
    )


def test_bad_ticket_is_one_line_naming_the_pointer(tmp_path: Path) -> None:
    ticket = tmp_path / "bad.json"
    ticket.write_text(
        '{"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"},'
        ' "request": {"kind": "refund", "amount": -5}}',
        encoding="utf-8",
    )
    line = one_line_error(run("eval", str(ticket), "--now", NOW))
    assert (
        line
        == f"csrules: error: {ticket}: ticket /request/amount: expected money >= 0, got `-5` [invalid-money]"
    )


def test_invalid_json_is_one_line_with_its_position(tmp_path: Path) -> None:
    ticket = tmp_path / "broken.json"
    ticket.write_text('{"id": "T",\n  "customer": }', encoding="utf-8")
    line = one_line_error(run("eval", str(ticket)))
    assert line == f"csrules: error: {ticket}:2:15: invalid JSON: Expecting value"


def test_missing_ticket_file_is_one_line(tmp_path: Path) -> None:
    line = one_line_error(run("eval", str(tmp_path / "nope.json")))
    assert (
        line == f"csrules: error: {tmp_path / 'nope.json'}: cannot read the ticket: No such file or directory"
    )


def test_bad_policy_is_one_line_with_file_line_column(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        "rules:\n  - id: r\n    description: d\n    rationale: r\n    when: [{item.onsale: true}]\n    then: {deny: true}\n",
    )
    line = one_line_error(run("eval", str(EXAMPLES / "loyal_refund_45.json"), "--policies", str(policy)))
    assert line == (
        f"csrules: error: {policy}:5:13: unknown fact path `item.onsale` (did you mean `item.on_sale`?)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--param", "front_line_limit=cheap"),
            "csrules: error: params: parameter `front_line_limit` must be money, got `cheap`",
        ),
        (("--param", "nope=1"), "csrules: error: params: unknown parameter `nope`"),
        (  # a tag is read as in a policy file: `!!bool yes` was the text "yes", then the text
            # `!!bool yes` (a string parameter took it as its value); now the file's error
            ("--param", "front_line_limit=!!bool yes"),
            "csrules: error: --param front_line_limit: `!!bool` needs `true` or `false`, got `yes`",
        ),
        (
            ("--param", "currency=!!python/object:os.system x"),
            "csrules: error: --param currency: unsupported YAML tag `tag:yaml.org,2002:python/object:os.system`",
        ),
        (
            ("--param", "front_line_limit=!!int 0x1F"),
            "csrules: error: --param front_line_limit: `!!int` needs a decimal integer, got `0x1F`",
        ),
        (  # a single `!` is a local tag to YAML, but on a command line it is text, as it was
            ("--param", "currency=!USD"),
            "csrules: error: params: parameter `currency` must be 3 capital letters, got `!USD`",
        ),
        (  # a number longer than a policy file may write is an error there too, not text
            ("--param", "currency=123456789012345678901"),
            "csrules: error: --param currency: number `123456789012345678901` has more than 20 digits",
        ),
        (
            ("--param", "front_line_limit=1e12345"),
            "csrules: error: --param front_line_limit: number `1e12345` has more than 30 digits before or "
            "after the point, or an exponent of more than 4 digits",
        ),
        (  # quoted, it is text, as in a file
            ("--param", 'currency="123456789012345678901"'),
            "csrules: error: params: parameter `currency` must be 3 capital letters, "
            'got `"123456789012345678901"`',
        ),
        (  # a number in exponent notation, as decisions write numbers: it was `1E+2`
            ("--param", "currency=1e2"),
            "csrules: error: params: parameter `currency` must be string, got `100.0`",
        ),
        (  # a number as written otherwise
            ("--param", "currency=1.50"),
            "csrules: error: params: parameter `currency` must be string, got `1.50`",
        ),
        (
            ("--param", "front_line_limit"),
            "csrules: error: --param expects NAME=VALUE, got `front_line_limit`",
        ),
        (
            ("--now", "yesterday"),
            "csrules: error: --now expects an ISO 8601 date and time with a UTC offset "
            "(e.g. `2026-11-23T15:00:00Z`), got `yesterday`",
        ),
        (  # it suggested `2026-11-23Z`, which it then refused
            ("--now", "2026-11-23"),
            "csrules: error: --now expects an ISO 8601 date and time with a UTC offset "
            "(e.g. `2026-11-23T00:00:00Z`), got `2026-11-23`",
        ),
        (
            ("--now", "2026-W48-1T10:00:00Z"),  # a week date: fromisoformat reads it, tickets do not
            "csrules: error: --now expects an ISO 8601 date and time with a UTC offset "
            "(e.g. `2026-11-23T15:00:00Z`), got `2026-W48-1T10:00:00Z`",
        ),
        (
            ("--now", "2026-11-23T15:00:00"),
            "csrules: error: --now needs a UTC offset (e.g. `2026-11-23T15:00:00Z`), got `2026-11-23T15:00:00`",
        ),
        (  # an offset in seconds: tickets refuse it
            ("--now", "2026-11-23T15:00:00+05:30:30"),
            "csrules: error: --now expects an ISO 8601 date and time with a UTC offset "
            "(e.g. `2026-11-23T15:00:00Z`), got `2026-11-23T15:00:00+05:30:30`",
        ),
    ],
)
def test_bad_arguments_are_one_line(args: tuple[str, ...], message: str) -> None:
    assert one_line_error(run("eval", str(EXAMPLES / "loyal_refund_45.json"), *args)) == message


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        ("1900-01-01T00:00+01:00", False),  # 1899-12-31T23:00Z
        ("1900-01-01T01:00+01:00", True),  # 1900-01-01T00:00Z
        ("9000-12-31T23:59:59Z", True),
        ("9000-12-31T23:59-01:00", False),  # 9001-01-01T00:59Z
        ("0001-01-01T00:00+01:00", False),  # before the year 1 in UTC
    ],
)
def test_now_out_of_range_is_an_argument_error_not_the_tickets(now: str, ok: bool) -> None:
    result = run("eval", str(EXAMPLES / "loyal_refund_45.json"), "--now", now)
    if ok:
        assert result.returncode == 0, result.stderr
    else:
        assert one_line_error(result) == (
            f"csrules: error: --now must be between the years 1900 and 9000 in UTC, got `{now}`"
        )


@pytest.mark.parametrize(
    "args",
    [
        ("missing-ticket.json", "--now", "soon"),
        (str(EXAMPLES / "loyal_refund_45.json"), "--policies", "missing-policies", "--now", "soon"),
        (str(EXAMPLES / "loyal_refund_45.json"), "--param", "nope", "--now", "soon"),
    ],
)
def test_a_bad_now_is_reported_before_any_file_is_read(args: tuple[str, ...]) -> None:
    """The ticket file or the policies were reported first, though docs/errors.md says --now is
    checked before the ticket is read."""
    assert one_line_error(run("eval", *args)) == (
        "csrules: error: --now expects an ISO 8601 date and time with a UTC offset "
        "(e.g. `2026-11-23T15:00:00Z`), got `soon`"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("eval",),
            "csrules: error: the following arguments are required: ticket (see `csrules eval --help`)",
        ),
        # the command given is the one to read about (it pointed at `csrules --help`)
        (
            ("eval", "x", "--bogus"),
            "csrules: error: unrecognized arguments: --bogus (see `csrules eval --help`)",
        ),
        (
            ("log", "verify", "x", "--bogus"),
            "csrules: error: unrecognized arguments: --bogus (see `csrules log verify --help`)",
        ),
        (
            ("schema", "nope"),
            "csrules: error: argument name: invalid choice: 'nope' (choose from 'decision', 'policy', 'ticket') "
            "(see `csrules schema --help`)",
        ),
        (
            ("frobnicate",),
            "csrules: error: argument COMMAND: invalid choice: 'frobnicate' (choose from 'eval', 'test', "
            "'coverage', 'check', 'schema', 'verify', 'log', 'diff', 'generate-tickets', 'report') "
            "(see `csrules --help`)",
        ),
    ],
)
def test_argument_errors_are_one_line_without_the_usage(args: tuple[str, ...], message: str) -> None:
    assert one_line_error(run(*args)) == message


def test_a_key_given_twice_is_an_error_not_its_last_value(tmp_path: Path) -> None:
    ticket = tmp_path / "twice.json"
    ticket.write_text(
        '{"id": "T", "id": "U", "customer": {"id": "C"}, "agent": {"id": "A", "role": "senior"}}',
        encoding="utf-8",
    )
    assert one_line_error(run("eval", str(ticket), "--now", NOW)) == (
        f"csrules: error: {ticket}: invalid JSON: duplicate key `id`"
    )


def test_a_line_break_in_a_key_or_a_file_name_stays_one_line(tmp_path: Path) -> None:
    ticket = tmp_path / "a\nb.json"
    ticket.write_text(
        '{"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "senior"}, "x\\ny": 1}',
        encoding="utf-8",
    )
    line = one_line_error(run("eval", str(ticket), "--now", NOW))
    assert line.startswith(
        f"csrules: error: {tmp_path}/a\\nb.json: ticket /x\\ny: expected one of the fields "
    )


def test_check_passes_on_the_default_bundle() -> None:
    result = run("check", "policies")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("ok: 17 rules in 5 files, policy ")


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        "rules:\n  - id: r\n    description: d\n    rationale: r\n    when: [{item.onsale: true}, {severity: hgih}]\n"
        "    then: {deny: true}\n",
    )
    result = run("check", str(policy))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{policy}:5:13: unknown fact path `item.onsale` (did you mean `item.on_sale`?)",
        f"{policy}:5:44: `severity` eq: `severity` is one of low, normal, high, urgent, got `hgih` (did you mean `high`?)",
        "2 problems",
    ]


def test_a_reader_leaving_early_is_no_internal_error() -> None:
    """`csrules generate-tickets | head` printed "internal error: BrokenPipeError" (exit 3)."""
    result = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"'{sys.executable}' -m csrules generate-tickets --count 20000 | head -1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (141, "")
    assert json.loads(result.stdout)["id"]


@pytest.mark.parametrize(
    "args",
    [
        ["schema", "policy"],  # one write of 52 KB
        ["schema", "policy", "--output", "/dev/stdout"],  # a path that is no regular file
    ],
)
def test_a_reader_leaving_during_one_large_write_is_141_not_success(args: list[str]) -> None:
    """A large output is one write; when the pipe took only part of it and its reader left,
    Python's buffered writer returned the partial count without an error and the rest was
    dropped: exit 0 (a full disk the same: a cut report, exit 0). The pipe here holds 4 KiB."""
    import fcntl  # noqa: PLC0415 - Linux only, as F_SETPIPE_SZ

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        [sys.executable, "-m", "csrules", *args], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline() == b"{\n"  # the writer is blocked in its one write, part written
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (141, b"")


_DRIVER = """
import os, signal, sys
from csrules.cli import generate, main

def run(args, out):
    for n in range(int(os.environ.get("DRIVER_LONG_LINES", "0"))):  # blocks on a full pipe
        out.write(str(n % 10) * 999 + "\\n")
    out.write("line 1\\n")
    out.write("line 2\\n")
    print(os.fstat(1).st_size, file=sys.stderr)  # what reached the file so far
    if os.environ.get("DRIVER_SIGNAL"):
        os.kill(os.getpid(), int(os.environ["DRIVER_SIGNAL"]))
    return 0

generate.run = run
main.entry()
"""


def _drive(tmp_path: Path, environment: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """`_DRIVER` (csrules' entry point with a command that writes two lines) with its standard
    output a file: the run, and what the file holds at the end."""
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(tmp_path / "out.txt", "wb") as output:
        result = subprocess.run(
            [sys.executable, str(driver), "generate-tickets"],
            stdout=output,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **environment},
            cwd=ROOT,
            check=False,
            timeout=60,
        )
    return result, (tmp_path / "out.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("environment", "reached"),
    [
        ({}, 0),  # a file: written at the end
        ({"PYTHONUNBUFFERED": "1"}, 14),  # `python -u`: each write at once, as Python's own stream
    ],
)
def test_standard_output_keeps_pythons_buffering(
    tmp_path: Path, environment: dict[str, str], reached: int
) -> None:
    """Under PYTHONUNBUFFERED (usual in containers), output was held until 64 KiB or the end."""
    result, written = _drive(tmp_path, environment)
    assert (result.returncode, result.stderr, written) == (0, f"{reached}\n", "line 1\nline 2\n")


@pytest.mark.parametrize(("signum", "code"), [(15, 143), (1, 129)])
def test_output_written_before_sigterm_or_sighup_is_kept(tmp_path: Path, signum: int, code: int) -> None:
    """Python's flush at exit wrote it; once csrules held its own output, SIGTERM and SIGHUP
    dropped up to 64 KiB of it (Ctrl-C did not)."""
    result, written = _drive(tmp_path, {"DRIVER_SIGNAL": str(signum)})
    assert (result.returncode, result.stderr, written) == (code, "0\n", "line 1\nline 2\n")


@pytest.mark.parametrize("signum", [15, 2])
def test_a_signal_during_a_write_blocked_on_a_slow_reader_leaves_whole_lines(
    tmp_path: Path, signum: int
) -> None:
    """The bytes of a write that SIGTERM or Ctrl-C cut short were dropped: the reader got
    exactly 64 KiB, ending in the middle of a JSON line."""
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(
        [sys.executable, str(driver), "generate-tickets"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**clean, "DRIVER_LONG_LINES": "1000"},  # 1 MB: far more than a pipe holds
        cwd=ROOT,
        bufsize=0,  # `communicate` reads the descriptor: nothing may sit in a reader's buffer
    )
    assert process.stdout is not None
    first = process.stdout.read(1000)  # started, and blocked on the full pipe soon after
    time.sleep(1.0)
    process.send_signal(signum)
    rest, stderr = process.communicate(timeout=60)
    written = first + rest
    assert (process.returncode, stderr) == ({15: 143, 2: 130}[signum], b"")
    lines = written.split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    assert 60 <= len(lines) - 1 < 1000
    assert all(line == str(n % 10).encode() * 999 for n, line in enumerate(lines[:-1]))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_an_encoding_with_a_byte_order_mark_writes_it_once(encoding: str) -> None:
    """Each 64 KiB block was encoded on its own: a byte order mark before every block, and the
    output no longer read back."""
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "generate-tickets", "--count", "2000"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0
    assert len(result.stdout) > 3 * 65536
    lines = result.stdout.decode(encoding).splitlines()
    assert len(lines) == 2000
    assert all(json.loads(line)["id"] for line in lines)


def _with_streams(
    args: list[str], *, close: int | None = None, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """`csrules ARGS` with descriptor `close` closed (`>&-`, `<&-`) or other streams given."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "csrules", *args],
        cwd=ROOT,
        check=False,
        timeout=60,
        preexec_fn=(lambda: os.close(close)) if close is not None else None,
        **kwargs,
    )


def test_streams_the_shell_closed_or_filled_are_one_line_errors(tmp_path: Path) -> None:
    """`>&-`, `<&-` and `> /dev/full` were "internal error" (exit 3), a bug by the docs."""
    ticket = str(EXAMPLES / "loyal_refund_45.json")
    closed_out = _with_streams(["eval", ticket, "--now", NOW], close=1, stderr=subprocess.PIPE)
    assert (closed_out.returncode, closed_out.stderr) == (
        2,
        b"csrules: error: cannot write the output: standard output is closed\n",
    )
    # A command that writes elsewhere runs with standard output closed
    written = _with_streams(
        ["generate-tickets", "--count", "2", "--output", str(tmp_path / "t.jsonl")],
        close=1,
        stderr=subprocess.PIPE,
    )
    assert (written.returncode, written.stderr) == (0, b"")
    assert len((tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    closed_in = _with_streams(["eval", "-", "--now", NOW], close=0, capture_output=True)
    assert (closed_in.returncode, closed_in.stderr) == (2, b"csrules: error: -: standard input is closed\n")
    with open("/dev/full", "wb") as full:
        filled = _with_streams(["eval", ticket, "--now", NOW], stdout=full, stderr=subprocess.PIPE)
    assert (filled.returncode, filled.stderr) == (
        2,
        b"csrules: error: cannot write the output: No space left on device\n",
    )
    # stderr closed: the error goes nowhere, never onto standard output
    quiet = _with_streams(["eval", "missing.json", "--now", NOW], close=2, stdout=subprocess.PIPE)
    assert (quiet.returncode, quiet.stdout) == (2, b"")


def test_text_the_terminal_cannot_encode_is_escaped_not_an_error(tmp_path: Path) -> None:
    """Under PYTHONIOENCODING=ascii a ticket id `T-ü` was exit 3; `log show` stopped half way."""
    ticket = json.loads((EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8"))
    ticket["id"] = "T-\u00fc"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(ticket, ensure_ascii=False), encoding="utf-8")
    result = _with_streams(
        ["eval", str(path), "--now", NOW],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.startswith(b"Ticket T-\\u00fc: APPROVE")


@pytest.mark.parametrize("command", [["eval", "--format", "json"], ["eval", "--format", "jsonl"]])
def test_json_output_a_terminal_cannot_encode_is_still_json(tmp_path: Path, command: list[str]) -> None:
    """Under PYTHONIOENCODING=ascii the JSON said `"T-\\xe9\\U0001f600"`: Python's escapes, which
    no JSON reader takes (`Invalid \\escape`)."""
    ticket = json.loads((EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8"))
    ticket["id"] = "T-\u00e9\U0001f600"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(ticket, ensure_ascii=False), encoding="utf-8")
    result = _with_streams(
        [command[0], str(path), "--now", NOW, *command[1:]],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.isascii()
    assert b"T-\\u00e9\\ud83d\\ude00" in result.stdout
    assert json.loads(result.stdout)["ticket_id"] == "T-\u00e9\U0001f600"


def test_json_files_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    decision = json.loads(
        run("eval", str(EXAMPLES / "loyal_refund_45.json"), "--now", NOW, "--format", "json").stdout
    )
    path = tmp_path / "decisions.jsonl"
    path.write_text("\ufeff" + json.dumps(decision) + "\n", encoding="utf-8")
    assert run("coverage", str(path)).returncode == 0
    single = tmp_path / "decision.json"
    single.write_text("\ufeff" + json.dumps(decision), encoding="utf-8")
    assert run("verify", str(single)).returncode == 0
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        "\ufeff" + (EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert run("eval", str(ticket), "--now", NOW).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("test", "--examples", "-1"), "argument --examples: expected a whole number, 0 or more, got `-1`"),
        (("test", "--examples", "x"), "argument --examples: expected a whole number, 0 or more, got `x`"),
        # hypothesis' seed: -5 ran the very search of 5
        (("test", "--seed", "-5"), "argument --seed: expected a whole number, 0 or more, got `-5`"),
        # Python's random takes -1 for 1: the same tickets for two seeds
        (
            ("generate-tickets", "--seed", "-1"),
            "argument --seed: expected a whole number, 0 or more, got `-1`",
        ),
        (
            ("coverage", "x.jsonl", "--fail-under", "nan"),
            "argument --fail-under: expected a number from 0 to 100, got `nan`",
        ),
        (
            ("coverage", "x.jsonl", "--fail-under", "101"),
            "argument --fail-under: expected a number from 0 to 100, got `101`",
        ),
    ],
)
def test_counts_and_shares_out_of_range_are_argument_errors(args: tuple[str, ...], message: str) -> None:
    """`--examples -1` skipped the invariants silently; `--fail-under nan` never failed."""
    assert one_line_error(run(*args)).startswith(f"csrules: error: {message} (see `csrules ")


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (("eval", ""), "ticket"),
        (("verify", ""), "decision"),
        (("log", "verify", ""), "log"),
        (("log", "show", ""), "log"),
        (("log", "repair", ""), "log"),
        (("coverage", "x.jsonl", ""), "decisions"),
        (("diff", "policies", "policies", "--tickets", ""), "--tickets"),
        (("diff", "", "policies", "--tickets", "t.jsonl"), "old"),
        (("diff", "policies", "", "--tickets", "t.jsonl"), "new"),
        (("generate-tickets", "--output", ""), "--output"),
        (("schema", "ticket", "--output", ""), "--output"),
        (("report", "", "--html", "out.html"), "input"),
        (("report", "x.json", "--html", ""), "--html"),
    ],
)
def test_an_empty_path_is_an_argument_error(args: tuple[str, ...], argument: str) -> None:
    """`eval ""` read the current directory and said "Is a directory"."""
    assert one_line_error(run(*args)).startswith(
        f"csrules: error: argument {argument}: expected a path, got an empty string (see `csrules "
    )


def test_policy_text_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """A rule's description and rationale were printed raw: a policy could write terminal escapes,
    bidi overrides and lines that look like csrules' own output. Ticket text was already escaped."""
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n"
        "  - id: r1\n"
        '    description: "Big \\e[31mRED\\e[0m \\u202Eevil"\n'
        '    rationale: "line1\\nFired rules (0 of 1): \\r\\x07"\n'
        "    when:\n"
        "      - request.amount: {gt: 20}\n"
        "    then:\n"
        "      require_role: senior\n",
        encoding="utf-8",
    )
    ticket = tmp_path / "t.json"
    ticket.write_text(
        json.dumps({"id": "T-1", "customer": {"id": "C-1"}, "agent": {"id": "A-1", "role": "front_line"},
                    "request": {"kind": "refund", "amount": "45.00"}}),
        encoding="utf-8",
    )  # fmt: skip
    result = run("eval", str(ticket), "--policies", str(policy), "--now", NOW, "--all")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    heading = lines.index("  r1: Big \\x1b[31mRED\\x1b[0m \\u202eevil [p.yaml:2]")
    assert lines[heading + 1 : heading + 3] == ["    line1", "    Fired rules (0 of 1): \\r\\x07"]
    assert not any(c in result.stdout for c in "\x1b\x07\r\u202e")


@pytest.mark.parametrize("encoding", ["latin-1", "ascii", "utf-8"])
def test_eval_reads_standard_input_as_utf8_whatever_the_locale(encoding: str) -> None:
    """Standard input was decoded with PYTHONIOENCODING or the locale: under latin-1 the id
    `T-ü€😀` became mojibake in the decision (exit 0), under ascii a valid ticket was refused."""
    ticket = json.loads((EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8"))
    ticket["id"] = "T-\u00fc\u20ac\U0001f600"
    data = ("\ufeff" + json.dumps(ticket, ensure_ascii=False)).encode("utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "eval", "-", "--now", NOW, "--format", "json"],
        input=data,
        capture_output=True,
        cwd=ROOT,
        check=False,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": encoding},
    )
    assert result.returncode == 0, result.stderr
    # Standard output is in that encoding (characters it lacks escaped as JSON).
    assert json.loads(result.stdout.decode(encoding))["ticket_id"] == "T-\u00fc\u20ac\U0001f600"


def test_eval_of_bad_utf8_on_standard_input_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "eval", "-", "--now", NOW],
        input=b'{"id": "T-\xff"}',
        capture_output=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1
    assert "-: cannot read the ticket: 'utf-8' codec can't decode byte 0xff" in result.stderr.decode()


def test_eval_reads_a_text_stream_put_in_place_of_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A caller running `main` with a text stream as sys.stdin (no `.buffer`) is read as text."""
    ticket = (EXAMPLES / "loyal_refund_45.json").read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff" + ticket))
    assert main(["eval", "-", "--now", NOW, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ticket_id"] == "T-1003"
