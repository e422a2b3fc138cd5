"""`csrules diff`: exact transitions on a corpus whose changes are known, formats, exit codes, bad lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import csrules
from tests.helpers import NOW, ROOT
from tests.impact.support import diff, diff_json, policies_with, transitions, write_corpus

AMOUNTS = [Decimal(cents) / 100 for cents in range(0, 6001, 250)] + [
    Decimal(s) for s in ("20.01", "24.99", "25.01")
]
CUSTOMERS = [
    {"tier": "one_time"},
    {"tier": "frequent", "lifetime_value": "999.99"},
    {"tier": "frequent", "lifetime_value": "1000.00"},  # high-value by lifetime value
    {"tier": "loyal"},  # high-value by tier
    {"tier": "occasional", "abusive": True},
]


def known_corpus() -> list[dict[str, Any]]:
    """Every amount x customer x agent role x category x severity: 1,120 tickets."""
    tickets = []
    for amount in AMOUNTS:
        for c, customer in enumerate(CUSTOMERS):
            for role in ("front_line", "senior"):
                for category in ("billing", "employee_behavior"):
                    for severity in ("normal", "urgent"):
                        tickets.append(
                            {
                                "id": f"T-{len(tickets) + 1}",
                                "severity": severity,
                                "category": category,
                                "customer": {"id": f"C-{c}", **customer},
                                "agent": {"id": "A-1", "role": role},
                                "request": {"kind": "refund", "amount": f"{amount:.2f}"},
                            }
                        )
    return tickets


def expected_for_raised_limit(tickets: list[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """The transitions of front_line_limit 20 -> 25, worked out from the bundle's rules by hand:
    only an ordinary customer's amount in (20, 25] changes, and only conduct-free tickets change
    their decision (conduct requires a supervisor whatever the amount)."""
    counts: dict[str, int] = {}
    rules_only = 0
    for ticket in tickets:
        customer = ticket["customer"]
        high_value = (
            customer["tier"] in ("loyal", "advocate") or Decimal(customer.get("lifetime_value", "0")) >= 1000
        )
        amount = Decimal(ticket["request"]["amount"])
        if high_value or not Decimal(20) < amount <= Decimal(25):
            continue
        if customer.get("abusive") or ticket["category"] == "employee_behavior":
            rules_only += 1
            continue
        moved = ["required_role senior->front_line"]
        if ticket["agent"]["role"] == "front_line":
            moved += [
                "outcome escalate->approve",
                "follow_up -escalation_update",
                "follow_up +satisfaction_check",
            ]
        for key in moved:
            counts[key] = counts.get(key, 0) + 1
    return counts, rules_only


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "tickets.jsonl", known_corpus())


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return policies_with(tmp_path_factory.mktemp("raised"), front_line_limit=25)


POLICIES = str(ROOT / "policies")


def test_a_raised_limit_changes_exactly_the_expected_tickets(
    capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path
) -> None:
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    expected, rules_only = expected_for_raised_limit(known_corpus())
    assert expected["required_role senior->front_line"] == 32  # the corpus does hold such tickets
    assert report["tickets"] == len(known_corpus()) == 1_120
    assert transitions(report) == expected
    assert report["changed"] == expected["required_role senior->front_line"]
    assert report["rules_only"] == rules_only
    assert report["rules"][0] == {"rule": "over_front_line_limit", "tickets": report["changed"]}
    assert report["errors"] == {"count": 0, "one_sided": 0, "lines": []}


def test_the_same_change_as_a_parameter_override_gives_the_same_report(
    capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path
) -> None:
    by_file = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    by_param = diff_json(
        capsys, POLICIES, POLICIES, "--new-param", "front_line_limit=25", "--tickets", str(corpus)
    )
    # The digest covers effective parameter values and rule lines, not how a value was set.
    assert by_param["new"]["policy_digest"] == by_file["new"]["policy_digest"]
    for key in ("tickets", "changed", "rules_only", "transitions", "rules"):
        assert by_param[key] == by_file[key]


def test_a_shorter_update_window_moves_follow_ups_of_escalated_normal_tickets(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    report = diff_json(
        capsys,
        POLICIES,
        POLICIES,
        "--new-param",
        "escalation_update_hours_normal=12",
        "--tickets",
        str(corpus),
    )
    engine = csrules.load()
    escalated_normal = sum(
        1
        for t in known_corpus()
        if t["severity"] == "normal" and engine.evaluate(t, now=NOW).outcome == "escalate"
    )
    assert escalated_normal > 0
    assert transitions(report) == {"follow_up escalation_update moved earlier": escalated_normal}
    # The same rules fire; the one whose effect (the due time) changed caused it.
    assert report["rules"] == [{"rule": "escalation_update_normal", "tickets": escalated_normal}]


def test_json_report_keys_and_examples(
    capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path
) -> None:
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--examples", "2")
    assert list(report) == [
        "old", "new", "corpus", "now", "parameters", "tickets", "changed", "rules_only", "errors", "transitions",
        "rules", "examples",
    ]  # fmt: skip
    assert report["now"] == "2026-01-01T00:00:00Z"
    assert report["parameters"] == [{"name": "front_line_limit", "old": 20.0, "new": 25.0}]
    assert report["old"]["policies"] == POLICIES
    assert report["old"]["policy_digest"] == csrules.load().policy_digest
    row = report["transitions"][0]
    assert row["transition"] == "outcome escalate->approve"
    assert (row["field"], row["change"], row["kind"]) == ("outcome", "escalate->approve", None)
    assert len(row["examples"]) == 2
    lines = sorted({n for t in report["transitions"] for n in t["examples"]})
    assert [e["line"] for e in report["examples"]] == lines
    first = next(e for e in report["examples"] if e["line"] == row["examples"][0])
    assert (first["old"]["outcome"], first["new"]["outcome"]) == ("escalate", "approve")
    assert "over_front_line_limit" in first["old"]["fired"]
    assert "over_front_line_limit" not in first["new"]["fired"]
    assert first["rules"][0] == "over_front_line_limit"
    ticket = known_corpus()[first["line"] - 1]
    assert first["ticket_id"] == ticket["id"]
    assert Decimal(20) < Decimal(ticket["request"]["amount"]) <= Decimal(25)


def test_text_report_summary_and_side_by_side(
    capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path
) -> None:
    code, out, err = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--examples", "1")
    assert (code, err) == (0, "")
    assert "\n1,120 tickets, 32 decisions changed (2.9%)\n" in out
    assert "  outcome escalate->approve" in out
    assert "over_front_line_limit: fired" in out
    assert "| over_front_line_limit: did not fire" in out
    assert "request.amount > 25.00 (front_line_limit)" in out
    assert max(len(line) for line in out.splitlines()[2:]) <= 110  # below the two lines naming the inputs


def test_the_report_names_the_parameters_that_differ(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path
) -> None:
    new = policies_with(tmp_path / "new", front_line_limit=25, raincheck_valid_days=45)
    (new / "extra.yaml").write_text(
        "policy: extra\nparameters:\n  review_note:\n    type: string\n    default: '<b>20</b>'\n"
        "    description: A note.\nrules: []\n",
        encoding="utf-8",
    )
    args = (POLICIES, str(new), "--tickets", str(corpus), "--examples", "0", "--new-param", "currency=EUR")
    code, out, err = diff(capsys, *args)
    assert (code, err) == (0, "")
    assert out.splitlines()[2:5] == [
        "parameters changed: currency USD -> EUR, front_line_limit 20.00 -> 25.00, raincheck_valid_days 30 -> 45,",
        "  review_note (none) -> <b>20</b>",
        "",
    ]
    report = diff_json(capsys, *args)
    assert report["parameters"] == [
        {"name": "currency", "old": "USD", "new": "EUR"},
        {"name": "front_line_limit", "old": 20.0, "new": 25.0},
        {"name": "raincheck_valid_days", "old": 30, "new": 45},
        {"name": "review_note", "old": None, "new": "<b>20</b>"},
    ]
    # Tickets that name no currency are read in the new one: the same amounts, so no change.
    assert report["changed"] == 32
    code, out, _ = diff(capsys, *args, "--format", "markdown")
    assert out.splitlines()[3:5] == [
        "",
        "Parameters changed: `currency` `USD` → `EUR`, `front_line_limit` `20.00` → `25.00`, "
        "`raincheck_valid_days` `30` → `45`, `review_note` `(none)` → `<b>20</b>`.",
    ]


def test_a_parameter_given_as_the_same_value_is_no_change(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    # 20 and 20.00 are the same money; the digest differs only by how the value was written.
    args = (POLICIES, POLICIES, "--tickets", str(corpus), "--new-param", "front_line_limit=20.00")
    assert diff_json(capsys, *args)["parameters"] == []
    code, out, _ = diff(capsys, *args)
    assert (code, out.splitlines()[2:4]) == (0, ["", "1,120 tickets, 0 decisions changed (0.0%)"])
    report = diff_json(
        capsys, POLICIES, POLICIES, "--tickets", str(corpus), "--new-param", "raincheck_valid_days=31"
    )
    assert report["parameters"] == [{"name": "raincheck_valid_days", "old": 30, "new": 31}]


def test_no_examples_with_examples_0(capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path) -> None:
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--examples", "0")
    assert report["examples"] == []
    assert all(t["examples"] == [] for t in report["transitions"])


def test_fail_on_change_exits_1_only_when_a_decision_changed(
    capsys: pytest.CaptureFixture[str], corpus: Path, raised: Path
) -> None:
    assert diff(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--fail-on-change")[0] == 1
    assert diff(capsys, POLICIES, str(raised), "--tickets", str(corpus))[0] == 0
    code, out, _ = diff(capsys, POLICIES, POLICIES, "--tickets", str(corpus), "--fail-on-change")
    assert code == 0
    assert "1,120 tickets, 0 decisions changed (0.0%)" in out


def test_fired_rules_alone_do_not_fail_the_gate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    abusive = {"id": "T", "customer": {"id": "C", "abusive": True}, "agent": {"id": "A", "role": "front_line"},
               "request": {"kind": "refund", "amount": "22.00"}}  # fmt: skip
    corpus = write_corpus(tmp_path / "t.jsonl", [abusive])
    code, out, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--fail-on-change")
    assert code == 0
    assert (
        "1 ticket, 0 decisions changed (0.0%)\n1 more ticket fired other rules for the same decision" in out
    )


def test_bad_lines_are_counted_and_listed_and_the_rest_compared(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    good = known_corpus()[:40]
    corpus = tmp_path / "mixed.jsonl"
    lines = (
        [json.dumps(t) for t in good[:10]]
        + ["{oops", "", '{"id": "T-x"}']
        + [json.dumps(t) for t in good[10:]]
    )
    corpus.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "\xff"}\n')
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert report["tickets"] == 40
    assert report["errors"] == {
        "count": 3,
        "one_sided": 0,
        "lines": [
            {
                "line": 11,
                "message": "invalid JSON: Expecting property name enclosed in double quotes (column 2)",
            },
            {
                "line": 13,
                "message": "ticket /customer: expected a value (the field is required), got nothing [missing-field]",
            },
            {
                "line": 44,
                "message": "not UTF-8 text (byte 0xff at column 9)",  # was: a lone surrogate in /id
            },
        ],
    }
    code, out, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert code == 0
    assert "3 lines could not be compared:\n  line 11: invalid JSON" in out


def test_a_ticket_decided_under_one_side_only_fails_the_gate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--new-param currency=EUR` made three quarters of a corpus rejected by the new policies,
    and `--fail-on-change` exited 0: those lines were only bad lines, not changes."""
    usd = [{**t, "request": {**t["request"], "currency": "USD"}} for t in known_corpus()[:30]]
    corpus = write_corpus(tmp_path / "usd.jsonl", known_corpus()[30:40] + usd)
    args = (POLICIES, POLICIES, "--tickets", str(corpus), "--new-param", "currency=EUR")
    report = diff_json(capsys, *args)
    assert (report["tickets"], report["changed"]) == (10, 0)  # no currency: in the bundle's
    assert (report["errors"]["count"], report["errors"]["one_sided"]) == (30, 30)
    assert report["errors"]["lines"][0]["message"].startswith(
        "rejected by the new policies only: ticket /request/currency: expected `EUR`"
    )
    code, out, _ = diff(capsys, *args, "--fail-on-change")
    assert code == 1
    assert (
        "  30 lines of them decided under one side only, rejected by the other: a change for "
        "--fail-on-change\n" in out
    )
    assert diff(capsys, *args[:4], "--fail-on-change")[0] == 0  # the same corpus, same policies


def test_a_share_is_never_rounded_to_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    """One changed decision in 3,000 read "(0.0%)"."""
    ticket = known_corpus()[0]
    small = [
        {**ticket, "id": f"T-{i}", "request": {"kind": "refund", "amount": "5.00"}} for i in range(2_999)
    ]
    corpus = write_corpus(
        tmp_path / "one.jsonl", [*small, {**ticket, "request": {"kind": "refund", "amount": "20.01"}}]
    )
    code, out, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert code == 0
    assert "3,000 tickets, 1 decision changed (<0.1%)\n" in out


def one_line(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert len(err.splitlines()) == 1, err
    return err.strip()


def test_a_corpus_with_no_valid_line_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "bad.jsonl", ["nope", "[]"])
    assert one_line(diff(capsys, POLICIES, POLICIES, "--tickets", str(corpus))) == (
        f"csrules: error: {corpus}: no ticket could be compared (line 1: invalid JSON: Expecting value (column 1))"
    )
    empty = write_corpus(tmp_path / "empty.jsonl", [])
    assert one_line(diff(capsys, POLICIES, POLICIES, "--tickets", str(empty))) == (
        f"csrules: error: {empty}: no ticket could be compared"
    )


def test_missing_inputs_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert one_line(diff(capsys, POLICIES, POLICIES, "--tickets", str(missing))) == (
        f"csrules: error: {missing}: cannot read the tickets: No such file or directory"
    )
    assert one_line(diff(capsys, POLICIES, str(tmp_path / "gone"), "--tickets", str(corpus))) == (
        f"csrules: error: `{tmp_path / 'gone'}`: no such policy file or directory"
    )
    for workers in ("-1", "1025", str(10**20)):  # 10**20 spawned processes until the machine gave out
        assert one_line(diff(capsys, POLICIES, POLICIES, "--tickets", str(corpus), "--workers", workers)) == (
            f"csrules: error: --workers expects 0 (one per core) to 1024, got `{workers}`"
        )


def test_stored_decisions_are_replayed_at_their_own_now(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    engine = csrules.load()
    ticket = known_corpus()[0] | {"request": {"kind": "refund", "amount": "22.00"}}
    corpus = write_corpus(tmp_path / "decisions.jsonl", [engine.evaluate(ticket, now=NOW).model_dump_json()])
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert report["changed"] == 1
    assert report["examples"][0]["old"]["follow_ups"][0]["due"] == "2026-11-24T15:00:00Z"


def test_standard_input(tmp_path: Path, raised: Path) -> None:
    corpus = "".join(json.dumps(t) + "\n" for t in known_corpus()[:300])
    result = subprocess.run(
        [sys.executable, "-m", "csrules", "diff", "policies", str(raised), "--tickets", "-", "--format", "json"],
        input=corpus, capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert json.loads(result.stdout)["tickets"] == 300


def test_two_workers_give_the_same_report_as_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, raised: Path
) -> None:
    args = (POLICIES, str(raised), "--tickets", str(corpus))
    for form in ("json", "text"):
        one = diff(capsys, *args, "--format", form)
        two = diff(capsys, *args, "--format", form, "--workers", "2")
        assert one == two
        assert one[0] == 0


@pytest.fixture(scope="module")
def large_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 generated tickets: about 10 s of `diff --workers 2` on this machine."""
    corpus = tmp_path_factory.mktemp("large") / "tickets.jsonl"
    subprocess.run(
        [sys.executable, "-m", "csrules", "generate-tickets", "--count", "20000", "--output", str(corpus)],
        check=True,
        timeout=120,
    )
    return corpus


def _workers_of(parent: int) -> list[int]:
    """The worker processes `parent` spawned (multiprocessing's resource tracker left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
        if ppid == parent and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.15, 0.2, 2.5])
def test_ctrl_c_with_workers_prints_no_traceback(large_corpus: Path, delay: float) -> None:
    """Ctrl-C reaches the whole process group: each worker printed a KeyboardInterrupt traceback
    (about 3 runs in 10), while the command itself exited 130 quietly. And once in many runs the
    command never ended: `multiprocessing.Pool.terminate()` killed a worker holding the lock of the
    queue it shares with the others.

    `delay` counts from the workers' start, so that on a slow machine too it falls while they
    start (0 to 0.2 s: with Ctrl-C live in them there, about 1 run in 3 printed a traceback) or
    decide (2.5 s); before it, the command itself is importing csrules, where a Ctrl-C prints
    Python's own traceback."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "csrules",
            "diff",
            POLICIES,
            POLICIES,
            "--tickets",
            str(large_corpus),
            "--workers",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    deadline = time.monotonic() + 60
    while len(_workers_of(process.pid)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # leave no process behind for the next tests
        process.communicate()
        pytest.fail(f"still running 120 s after Ctrl-C (sent {delay} s after the workers started)")
    assert process.returncode in (130, 0), err  # 0: it finished first
    assert b"Traceback" not in err, err.decode()


def test_text_from_the_corpus_cannot_break_the_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    """A ticket id closed the Markdown `<details>` block early, and a key or `now` holding a line
    break or a terminal escape split a line of the text report."""
    hostile = "<b>x</b></details>\n```"
    corpus = tmp_path / "odd.jsonl"
    lines = [
        json.dumps(
            {
                "id": hostile,
                "customer": {"id": "C"},
                "agent": {"id": "A", "role": "front_line"},
                "request": {"kind": "refund", "amount": "22.00"},
            }
        ),
        json.dumps({"ticket": {"id": "T"}, "now": "a\nb"}),
        json.dumps({"ticket": {"id": "T"}, "x\ny\u001b[2J": 1}),
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, markdown, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--format", "markdown")
    assert code == 0
    assert "<code>&lt;b&gt;x&lt;/b&gt;&lt;/details&gt;\\n```</code>" in markdown
    assert markdown.count("</details>") == markdown.count("<details>") == 1
    assert (
        "- line 2: `` `now` must be an ISO 8601 date and time with a UTC offset, got `a\\nb` ``" in markdown
    )
    code, text, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert "  line 3: a wrapper has only `ticket` and `now`, got `x\\ny\\x1b[2J`" in text.splitlines()
    assert "\x1b" not in text


def test_markdown_from_a_policy_or_the_command_line_is_never_read_as_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`_md` escaped HTML only: a string parameter `[Approved](https://evil.example) @org/team`
    rendered as a live link (and on GitHub pinged the team), and backticks in a ticket's value
    closed the code span around it in an error message."""
    link = "[Approved by security](https://evil.example/phish) @octo-org/security"
    sides = []
    for side, value in (("old", "plain"), ("new", link)):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "p.yaml").write_text(
            f"parameters:\n  note:\n    type: string\n    default: {json.dumps(value)}\n    description: d\n"
            "rules: []\n",
            encoding="utf-8",
        )
        sides.append(str(folder))
    odd = tmp_path / "odd.jsonl"
    role = "x`` [click](https://evil.example/x) `"
    good = {"id": "T", "customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"}}
    odd.write_text(
        json.dumps(good) + "\n" + json.dumps({**good, "agent": {"id": "A", "role": role}}) + "\n",
        encoding="utf-8",
    )
    code, markdown, _ = diff(capsys, *sides, "--tickets", str(odd), "--format", "markdown", "--examples", "0")
    assert code == 0
    assert f'Parameters changed: `note` `plain` → `"{link}"`.' in markdown.splitlines()
    (error,) = [line for line in markdown.splitlines() if line.startswith("- line ")]
    assert error == (  # a fence of three: the value holds a run of two backticks
        "- line 2: ```ticket /agent/role: expected 'front_line', 'senior', 'supervisor' or 'manager', "
        'got `"x`` [click](https://evil.example/x) `"` [invalid-enum]```'
    )


def test_the_reports_now_is_in_utc(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    """impact.md: "`now` | the default `now`, ISO 8601 UTC"; it kept the offset given."""
    args = (POLICIES, POLICIES, "--tickets", str(corpus), "--now", "2026-01-01T05:00:00+05:00")
    assert diff_json(capsys, *args)["now"] == "2026-01-01T00:00:00Z"
    code, out, _ = diff(capsys, *args)
    assert code == 0
    assert out.splitlines()[1].endswith("at 2026-01-01T00:00:00Z unless a line gives its own `now`")


def test_a_text_parameter_with_a_comma_is_quoted_in_the_parameters_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path
) -> None:
    """`s a, b -> c` read as two changes; decisions.md quotes such text so a line reads one way."""
    sides = []
    for side, value in (("old", "'a, b'"), ("new", "'20'")):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "p.yaml").write_text(
            f"parameters:\n  s:\n    type: string\n    default: {value}\n    description: d\nrules: []\n",
            encoding="utf-8",
        )
        sides.append(str(folder))
    code, out, _ = diff(capsys, *sides, "--tickets", str(corpus), "--examples", "0")
    assert code == 0
    assert out.splitlines()[2] == 'parameters changed: s "a, b" -> "20"'


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        (
            "--old-param",
            "nosuch=1",
            "params of the old policies (--old-param nosuch): unknown parameter `nosuch`",
        ),
        (
            "--new-param",
            "nosuch=1",
            "params of the new policies (--new-param nosuch): unknown parameter `nosuch`",
        ),
        ("--param", "nosuch=1", "params of the old policies (--param nosuch): unknown parameter `nosuch`"),
        (
            "--param",
            "front_line_limit=abc",
            "params of the old policies (--param front_line_limit): parameter `front_line_limit` must be "
            "money, got `abc`",
        ),
        ("--new-param", "front_line_limit", "--new-param expects NAME=VALUE, got `front_line_limit`"),
        ("--old-param", "=1", "--old-param expects NAME=VALUE, got `=1`"),
    ],
)
def test_an_override_error_names_its_side_and_flag(
    capsys: pytest.CaptureFixture[str], corpus: Path, flag: str, value: str, message: str
) -> None:
    code, out, err = diff(capsys, POLICIES, POLICIES, "--tickets", str(corpus), flag, value)
    assert (code, out, err) == (2, "", f"csrules: error: {message}\n")


def test_ticket_ids_in_the_text_report_read_one_way(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    """Ids were printed bare: one holding `: outcome deny->approve, ...` read as the example's
    transitions, one holding `), line 9 (` as another example, and a typed `\\u200b` as the
    invisible character `csrules eval` writes out that way."""
    ids = [
        "T-9: outcome deny->approve, required_role manager->front_line",
        "x), line 9 (y",
        "T-\u200b1",
        "T-\\u200b1",
    ]
    corpus = tmp_path / "ids.jsonl"
    ticket = {"customer": {"id": "C"}, "agent": {"id": "A", "role": "front_line"}}
    corpus.write_text(
        "".join(
            json.dumps({**ticket, "id": i, "request": {"kind": "refund", "amount": "22.00"}}) + "\n"
            for i in ids
        ),
        encoding="utf-8",
    )
    code, text, _ = diff(capsys, POLICIES, str(raised), "--tickets", str(corpus), "--examples", "4")
    assert code == 0
    assert (
        '  outcome escalate->approve: line 1 ("T-9: outcome deny->approve, required_role manager->front_line"), '
        'line 2 ("x), line 9 (y"), line 3 (T-\\u200b1), line 4 ("T-\\\\u200b1")'
    ) in text.splitlines()
    assert 'line 1, ticket "T-9: outcome deny->approve, required_role manager->front_line": outcome ' in text
    assert "line 3, ticket T-\\u200b1: outcome escalate->approve" in text
    assert 'line 4, ticket "T-\\\\u200b1": outcome escalate->approve' in text


def test_a_line_of_unicode_whitespace_is_a_bad_line_not_a_blank_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, raised: Path
) -> None:
    """Lines of a no-break space, a form feed, U+2028 or a record separator (no JSON; Python's
    `str.strip` clears them) were skipped as blank: in neither the tickets nor the errors."""
    good = json.dumps(known_corpus()[0])
    corpus = tmp_path / "odd.jsonl"
    corpus.write_text(
        "\n".join([good, "\u00a0", "\f", "\u2028", "\x1e", " \t\r", good]) + "\n", encoding="utf-8"
    )
    report = diff_json(capsys, POLICIES, str(raised), "--tickets", str(corpus))
    assert report["tickets"] == 2
    assert [line["line"] for line in report["errors"]["lines"]] == [2, 3, 4, 5]  # line 6 is blank
    assert all(line["message"].startswith("invalid JSON: ") for line in report["errors"]["lines"])
