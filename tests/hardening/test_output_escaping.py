"""Text from a ticket, a policy, a case file, a decision read back or the command line never
prints a line of its own, moves the cursor or reorders a line, in any human-facing output; an
altered decision never crashes a renderer; and numbers no float holds are refused, not rounded."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

import csrules
from csrules.cli.main import main
from csrules.decision_log import DecisionLog
from csrules.errors import one_line
from csrules.explain import explain
from csrules.verify import parse_decision
from tests.helpers import NOW, ROOT, refund, write_policy

HOSTILE = "x\nPASS  forged line\x1b[2K\u202e\u200b\x9b"
"""A line break that forges a line, an erase-line escape, a bidi override, an invisible space and
the 8-bit CSI."""

_RAW = ("\n", "\r", "\x1b", "\u202e", "\u200b", "\x9b")


def _clean(text: str) -> None:
    """No raw control, bidi or invisible character of HOSTILE is left in `text` but line breaks."""
    for character in _RAW[1:]:
        assert character not in text, repr(character)


def test_one_line_writes_out_every_control_format_and_separator_character() -> None:
    """It left the C1 controls (U+009B, the 8-bit CSI), zero-width characters, the soft hyphen,
    the byte order mark and tag characters as they were: `T-1` and `T-\\u200b1` read alike."""
    kept = []
    for code in range(0x110000):
        character = chr(code)
        category = unicodedata.category(character)
        if category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            shown = one_line(character)
            assert shown.isascii(), hex(code)
            assert shown.startswith("\\"), hex(code)
        elif one_line(character) != character and category != "Cn":  # Cn: format in a later Unicode
            kept.append(hex(code))
    assert kept == []  # everything else is left as it is
    assert one_line("T-\u200b1 \x9b \U000e0041") == "T-\\u200b1 \\x9b \\U000e0041"


def test_policy_case_output_keeps_case_and_ticket_text_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case name, an expected action kind, a rule name under `fired` and ticket text in the
    actual action params were printed raw: a case name printed a fake `PASS` line."""
    ticket = {
        "id": "T-1",
        "customer": {"id": "C-4"},
        "agent": {"id": "A-17", "role": "front_line"},
        "request": {"kind": "raincheck", "amount": "3.00"},
        "item": {
            "sku": HOSTILE,
            "on_sale": True,
            "in_stock": False,
            "regular_price": "8.99",
            "sale_price": "5.99",
        },
    }
    case = {
        "policies": str(ROOT / "policies"),
        "cases": [
            {
                "name": HOSTILE,
                "ticket": ticket,
                "expect": {
                    "outcome": "deny",
                    "actions": [{"kind": HOSTILE, "params": {"sku": HOSTILE}}],
                    "fired": [HOSTILE],
                },
            }
        ],
    }
    (tmp_path / "evil.cases.yaml").write_text(json.dumps(case), encoding="utf-8")
    assert main(["test", str(tmp_path / "evil.cases.yaml"), "--examples", "0"]) == 1
    out = capsys.readouterr().out
    _clean(out)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith(("PASS", "FAIL"))] == [
        f"FAIL  {tmp_path / 'evil.cases.yaml'}:1  x\\nPASS  forged line\\x1b[2K\\u202e\\u200b\\x9b"
    ]
    assert lines[-1] == "0 passed, 1 failed"
    assert "forged line" not in "".join(line for line in lines if line.lstrip().startswith("PASS"))


def test_check_warnings_keep_policy_text_on_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A string literal of a contradicting rule printed a forged `ok:` summary line."""
    text = (
        "rules:\n  - id: contradiction\n    description: d\n    rationale: r\n    when:\n"
        f"      - customer.id: A\n      - customer.id: {json.dumps(HOSTILE)}\n    then: {{deny: true}}\n"
    )
    path = write_policy(tmp_path, text)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    _clean(out)
    assert len(out.splitlines()) == 3  # the warning, its example, the summary
    assert out.splitlines()[0].endswith(
        "contradicts `customer.id eq x\\nPASS  forged line\\x1b[2K\\u202e\\u200b\\x9b` (when[1].customer.id, line 7)"
    )


def _decision_data(engine: csrules.Engine, amount: str = "45.00") -> dict[str, Any]:
    return json.loads(engine.evaluate(refund(amount), now=NOW).to_json())


def test_explaining_a_decision_read_back_keeps_each_of_its_fields_on_its_line(engine: csrules.Engine) -> None:
    """Reasons, rule ids, condition paths, derived names, the engine version and the digest of a
    decision read from a file were printed raw: fake `Fired rules` lines, an OSC title sequence."""
    data = _decision_data(engine)
    genuine = parse_decision(json.dumps(data)).explain()
    data["reasons"]["outcome"] = [HOSTILE]
    data["trace"]["engine_version"] = HOSTILE
    data["trace"]["policy_digest"] = HOSTILE
    data["trace"]["derived"] = {HOSTILE: False}
    data["trace"]["steps"][0]["rule"] = HOSTILE
    data["trace"]["steps"][0]["conditions"][0]["path"] = HOSTILE
    text = parse_decision(json.dumps(data)).explain()
    _clean(text)
    assert len(text.splitlines()) == len(genuine.splitlines())


ALTERED = [
    ("actual", lambda d: d["trace"]["steps"][0]["conditions"][0].update(actual=1e300)),
    ("op", lambda d: d["trace"]["steps"][0]["conditions"][0].update(op="bogus")),
    ("effect-int", lambda d: _fired(d)["effects"].__setitem__(0, {"effect": "derive", "value": 1})),
    ("effect-null", lambda d: _fired(d)["effects"].__setitem__(0, {"effect": "follow_up", "value": None})),
    (
        "effect-keys",
        lambda d: _fired(d)["effects"].__setitem__(0, {"effect": "action", "value": {"kind": "k"}}),
    ),
    ("role", lambda d: _fired(d)["effects"].__setitem__(0, {"effect": "require_role", "value": [HOSTILE]})),
]


def _fired(data: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in data["trace"]["steps"] if s["fired"] and s["effects"])
    return step


@pytest.mark.parametrize("alter", [a for _, a in ALTERED], ids=[name for name, _ in ALTERED])
def test_an_altered_decision_is_rendered_not_a_crash(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str], alter: Any
) -> None:
    """A condition's actual of 1e300 (decimal.InvalidOperation), an op csrules does not write
    (KeyError) and effects of another shape (KeyError, TypeError) were exit 3 in `csrules report`
    and raised from `explain()`."""
    data = _decision_data(engine)
    alter(data)
    decision = parse_decision(json.dumps(data))
    _clean(explain(decision, steps="all"))
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(path), "--html", str(tmp_path / "r.html"), "--no-verify"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'r.html'}: 1 decision(s)\n"


def test_log_show_keeps_each_record_on_one_line(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A decision appended through the API with a line break in its policy_digest verified, and
    `log show` printed it as two records."""
    data = _decision_data(engine)
    data["trace"]["policy_digest"] = "abc\n     2  forged"
    path = tmp_path / "log.jsonl"
    DecisionLog(path).append(parse_decision(json.dumps(data)))
    assert main(["log", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.endswith("policy abc\\n     2  \n")


def test_the_report_summary_keeps_the_html_path_on_its_line(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(_decision_data(engine)), encoding="utf-8")
    html = tmp_path / "r\nwrote fake.html\x1b[2K.html"
    assert main(["report", str(path), "--html", str(html), "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert out == f"wrote {tmp_path}/r\\nwrote fake.html\\x1b[2K.html: 1 decision(s)\n"


def test_the_diff_header_keeps_paths_on_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old\nFAKE 0 tickets\x1b[31m"
    old.mkdir()
    (old / "p.yaml").write_text("rules: []\n", encoding="utf-8")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps(refund("5.00")) + "\n", encoding="utf-8")
    assert main(["diff", str(old), str(old), "--tickets", str(corpus)]) == 0
    out = capsys.readouterr().out
    _clean(out)
    assert out.splitlines()[0].startswith(f"csrules diff: {tmp_path}/old\\nFAKE 0 tickets\\x1b[31m (")


@pytest.mark.parametrize("where", ["default", "override"])
def test_a_currency_with_a_trailing_line_break_is_refused(tmp_path: Path, where: str) -> None:
    """`^[A-Z]{3}$` matched `EUR\\n` (`$` matches before a final line break): the bundle loaded,
    and then refused every ticket that named a currency."""
    default = "EUR\n" if where == "default" else "EUR"
    text = f"parameters:\n  currency:\n    type: string\n    default: {json.dumps(default)}\n    description: d\nrules: []\n"
    path = write_policy(tmp_path, text)
    with pytest.raises(csrules.PolicyError) as info:
        csrules.load([path], params={"currency": "USD\n"} if where == "override" else None)
    assert "currency" in info.value.message


def test_a_number_no_float_holds_is_refused_not_rounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`1e-999999` read as 0.0: an amount of 0.00, decided, where `0.001` is refused for its
    third decimal; `20.000000000000001` read as 20.0, under a limit it is above."""
    ticket = json.dumps(refund("0.00")).replace('"0.00"', "1e-999999")
    path = tmp_path / "t.json"
    path.write_text(ticket, encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {path}: invalid JSON: the number 1e-999999 cannot be read exactly "
        "(it would read as 0.0)\n"
    )
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps(refund("5.00"))
        + "\n"
        + json.dumps(refund("0.00")).replace('"0.00"', "20.000000000000001")
        + "\n",
        encoding="utf-8",
    )
    policies = str(ROOT / "policies")
    assert main(["diff", policies, policies, "--tickets", str(corpus), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["errors"]["lines"] == [
        {
            "line": 2,
            "message": "invalid JSON: the number 20.000000000000001 cannot be read exactly (it would read as 20.0)",
        }
    ]
    # Numbers a float holds read as before, whatever their form.
    path.write_text(json.dumps(refund("0.00")).replace('"0.00"', "2.05e1"), encoding="utf-8")
    assert main(["eval", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["trace"]["facts"]["request"]["amount"] == 20.5


def test_the_html_report_writes_out_controls_shows_money_as_money_and_links_only_to_steps(
    engine: csrules.Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A U+202E in a ticket id reached the page raw (the rest of its cell reversed); the facts
    table showed `0.1` where the trace beside it showed `0.10`; a reason naming a rule the trace
    lacks linked to an anchor that does not exist."""
    ticket = {**refund("0.10"), "id": "T-\u202e1\x1b"}
    data = json.loads(engine.evaluate(ticket, now=NOW).to_json())
    data["reasons"]["required_role"] = ["ghost_rule"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    page = tmp_path / "r.html"
    assert main(["report", str(path), "--html", str(page), "--no-verify"]) == 0
    capsys.readouterr()
    html = page.read_text(encoding="utf-8")
    assert "\u202e" not in html
    assert "\x1b" not in html
    assert "T-\\u202e1\\x1b" in html
    assert "<th><code>request.amount</code></th><td><code>0.10</code></td>" in html
    assert "-rule-ghost_rule" not in html
    assert "<code>ghost_rule</code>" in html
