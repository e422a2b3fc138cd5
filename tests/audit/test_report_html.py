"""The HTML audit report: every rule in the trace table, escaped text, verification badges, log
problems, nothing external; and in a real headless Chromium, offline, a page that renders its table."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import struct
import subprocess
import tracemalloc
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

import csrules
from csrules.cli.main import main
from csrules.decision_log import verify_log
from csrules.report_html import render_html
from tests.helpers import NOW, refund, write_policy

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)",
)
WIDTH, HEIGHT = 1280, 2000
VOID = {"meta", "br", "img", "link", "input", "hr", "col", "wbr"}


@dataclass
class Step:
    """One rule's rows of the trace table: `fired` or `not-fired`, and the text of each cell."""

    state: str
    cells: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    """Tags, open-tag balance, and the trace table as rows of (rule id, state, [cell texts])."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[str] = []
        self.steps: list[Step] = []
        self.badges: list[str] = []
        self._cell: list[str] | None = None
        self._badge: list[str] | None = None
        self._in_trace = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag not in VOID:
            self.stack.append(tag)
        classes = attributes.get("class", "").split()
        if tag == "table" and "trace" in classes:
            self._in_trace += 1
        if self._in_trace and tag == "tbody" and "step" in classes:
            self.steps.append(Step(classes[-1]))
        if self._cell is not None:
            self._cell.append(" ")  # tags separate words, as a browser lays out blocks
        if self._in_trace and self.steps and tag == "td":
            self._cell = []
        if tag == "span" and "badge" in classes:
            self._badge = []

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1:] == [tag], f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag == "table" and self._in_trace:
            self._in_trace -= 1
        if self._cell is not None:
            self._cell.append(" ")
        if tag == "td" and self._cell is not None:
            self.steps[-1].cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "span" and self._badge is not None:
            self.badges.append("".join(self._badge))
            self._badge = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._badge is not None:
            self._badge.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def fill_log(path: Path, engine: csrules.Engine, amounts: list[str]) -> None:
    log = csrules.DecisionLog(path)
    for i, amount in enumerate(amounts, 1):
        ticket = refund(amount)
        ticket["id"] = f"T-{i}"
        log.append(engine.evaluate(ticket, now=NOW))


def test_every_rule_of_the_bundle_is_a_row_with_its_comparisons(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    page = parse(render_html([(decision, engine.verify(decision))], title="T-1"))
    assert [s.cells[0].split()[0] for s in page.steps] == [r.id for r in engine.bundle.rules]
    assert [s.state for s in page.steps] == [
        "fired" if s.fired else "not-fired" for s in decision.trace.steps
    ]
    row = page.steps[[r.id for r in engine.bundle.rules].index("over_front_line_limit")]
    cells = row.cells
    assert cells[0].startswith("over_front_line_limit policies/empowerment.yaml:")
    assert cells[1] == "fired"
    # First comparison on the rule's row, then one row per further comparison: expected, actual, result.
    assert cells[2:5] == ["derived.high_value == false when[0].derived.high_value", "false", "holds"]
    assert cells[5] == "require role senior"
    assert cells[6:9] == [
        "request.amount > 20.00 (front_line_limit) when[1].request.amount",
        "45.00",
        "holds",
    ]
    # A rule that did not fire shows each failing comparison with its actual value.
    senior = page.steps[[r.id for r in engine.bundle.rules].index("over_senior_limit")].cells
    assert senior[1:5] == [
        "not fired",
        "request.amount > 50.00 (senior_limit) when[0].request.amount",
        "45.00",
        "fails",
    ]


def test_policy_text_and_fact_values_render_as_text(tmp_path: Path) -> None:
    write_policy(
        tmp_path,
        """
policy: hostile
description: x
rules:
  - id: markup
    description: "<script>alert('description')</script>"
    rationale: "<img src=x onerror=alert(1)> & <b>bold</b>"
    when:
      - attributes.note: "</td></tr></table><script>alert('expected')</script>"
    then:
      require_role: senior
""",
    )
    engine = csrules.load(tmp_path)
    ticket = {**refund("5.00"), "id": "<T&1>", "attributes": {"note": "<script>alert('fact')</script>"}}
    decision = engine.evaluate(ticket, now=NOW)
    html = render_html([(decision, engine.verify(decision))], title="<title>")
    page = parse(html)
    assert {tag for tag, _ in page.tags} <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "code", "span",
        "section", "div", "table", "thead", "tbody", "tr", "th", "td", "b", "a", "ul", "li",
    }  # fmt: skip
    for text in ("alert('description')", "alert('expected')", "alert('fact')", "onerror=alert(1)"):
        assert text.replace("'", "&#x27;") in html
    assert "&lt;script&gt;" in html
    assert "&lt;T&amp;1&gt;" in html
    assert page.steps[0].cells[0].startswith("markup")
    assert "fails" in page.steps[0].cells


@pytest.mark.parametrize("status", ["identical", "different", "policy-changed", None])
def test_the_verification_badge_names_the_status(engine: csrules.Engine, status: str | None) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    if status == "different":
        data = json.loads(decision.to_json())
        data["outcome"] = "approve"
        decision = csrules.Decision.model_validate(data)
    verifier = csrules.load(params={"front_line_limit": 50}) if status == "policy-changed" else engine
    verification = None if status is None else verifier.verify(decision)
    assert verification is None or verification.status == status
    html = render_html([(decision, verification)], title="t")
    badges = parse(html).badges
    assert badges.count(status or "not verified") == 2  # the card and the verification section
    if status == "different":
        assert "<code>/outcome</code>" in html
        assert "&quot;approve&quot;" in html
    if status == "policy-changed":
        assert "parameter front_line_limit: recorded 20.0, now 50.0" in html


def test_the_page_loads_nothing_from_outside(engine: csrules.Engine) -> None:
    decisions = [engine.evaluate(refund(a), now=NOW) for a in ("5.00", "45.00", "150.00")]
    html = render_html([(d, engine.verify(d)) for d in decisions], title="t", labels=["a", "b", "c"])
    page = parse(html)
    assert not re.search(r"https?:|//[a-z]|@import|url\(", html, re.I)
    assert {tag for tag, _ in page.tags}.isdisjoint(
        {"script", "link", "img", "iframe", "object", "embed", "base"}
    )
    for _, attributes in page.tags:
        assert "src" not in attributes
        assert attributes.get("href", "#").startswith("#")
    anchors = {attributes["id"] for _, attributes in page.tags if "id" in attributes}
    assert {a["href"][1:] for _, a in page.tags if "href" in a} <= anchors
    assert 'http-equiv="Content-Security-Policy" content="default-src \'none\';' in html


def test_same_input_same_bytes(engine: csrules.Engine) -> None:
    decision = engine.evaluate(refund("45.00"), now=NOW)
    first = render_html([(decision, engine.verify(decision))], title="t", source="d.json")
    again = csrules.Decision.model_validate_json(decision.to_json())
    assert render_html([(again, csrules.load().verify(again))], title="t", source="d.json") == first


def test_report_of_an_intact_log_with_limit_and_ticket(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01", "45.00", "50.01", "150.00"])
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out), "--limit", "2"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "intact</span> 5 record(s)" in html
    assert "3 more decision(s) not shown" in html
    assert list(re.findall(r"Ticket <code>([^<]+)</code>", html)) == ["T-1", "T-2"]
    assert "record 2, line 2" in html
    assert capsys.readouterr().out.startswith(f"wrote {out}: 2 decision(s), 3 more not shown")
    assert main(["report", str(log), "--html", str(out), "--ticket", "T-4", "--no-verify"]) == 0
    html = out.read_text(encoding="utf-8")
    assert re.findall(r"Ticket <code>([^<]+)</code>", html) == ["T-4"]
    assert "only ticket T-4" in html
    assert "not verified" in html


def test_report_of_a_tampered_log_names_the_first_bad_line(tmp_path: Path, engine: csrules.Engine) -> None:
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01", "45.00", "50.01"])
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"outcome":"escalate"', b'"outcome":"approve"', 1)
    log.write_bytes(b"".join(lines) + b'{"seq": 5, "torn')
    problem = verify_log(log).problem
    assert problem is not None
    assert problem.line == 3
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "tampered</span> first problem at line 3" in html
    assert "[altered-record]" in html
    assert "2 record(s) verified before it" in html
    assert "line 5 is not JSON and is not shown" in html
    # The altered record itself does not replay.
    assert '<span class="badge different">different</span>' in html


@pytest.mark.parametrize(
    "first", [b"garbled\n", b'{"decision": {}, "seq": 1}\n'], ids=["not-json", "no-hash"]
)
def test_a_log_tampered_on_its_first_line_is_still_reported(
    tmp_path: Path, engine: csrules.Engine, first: bytes
) -> None:
    """The first line alone decided what the file was: with it tampered, the log was "neither a
    decision nor JSON Lines" (or a decisions file), exit 2, and no page."""
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01", "45.00"])
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(first + b"".join(lines[1:]))
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "tampered</span> first problem at line 1" in html
    assert "[invalid-record]" in html


def test_one_decision_with_a_key_given_twice_says_so(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps(json.loads(engine.evaluate(refund("45.00"), now=NOW).to_json()), indent=2)
    path = tmp_path / "decision.json"
    path.write_text(text.replace('"outcome": "escalate",', '"outcome": "approve", "outcome": "escalate",'))
    assert main(["report", str(path), "--html", str(tmp_path / "out.html")]) == 2
    assert capsys.readouterr().err.endswith(": not a decision (duplicate key `outcome`) [invalid-decision]\n")


def test_report_of_one_decision_file(tmp_path: Path, engine: csrules.Engine) -> None:
    path = tmp_path / "decision.json"
    path.write_text(engine.evaluate(refund("45.00"), now=NOW).to_json(), encoding="utf-8")
    out = tmp_path / "out.html"
    assert main(["report", str(path), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "escalate to senior" in html
    assert '<span class="badge identical">identical</span>' in html
    assert "Decision log" not in html


@pytest.mark.parametrize("flags", [[], ["--limit", "1"], ["--ticket", "T-1"], ["--ticket", "T-9"]])
def test_a_decisions_file_with_lines_that_are_no_decisions_is_refused_whatever_the_flags(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """With `--limit 1` the lines past the first were counted as "4 more decision(s) not shown"
    unread, and with `--ticket` the others were skipped unread: a file of junk was reported on."""
    path = tmp_path / "mixed.jsonl"
    decisions = [engine.evaluate(refund(amount), now=NOW).to_json() for amount in ("5.00", "45.00")]
    path.write_text("\n".join([*decisions, '{"not":"a decision"}', "[1,2,3]"]) + "\n", encoding="utf-8")
    out = tmp_path / "out.html"
    assert main(["report", str(path), "--html", str(out), "--no-verify", *flags]) == 2
    err = capsys.readouterr().err
    assert err == f"csrules: error: {path}:3: not a decision: /ticket_id: field required [invalid-decision]\n"
    assert not out.exists()


def test_a_decisions_file_counts_the_decisions_it_does_not_show(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "decisions.jsonl"
    decisions = [engine.evaluate(refund(a), now=NOW).to_json() for a in ("5.00", "45.00", "50.01")]
    path.write_text("\n".join(decisions) + "\n", encoding="utf-8")
    out = tmp_path / "out.html"
    assert main(["report", str(path), "--html", str(out), "--no-verify", "--limit", "1"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: 1 decision(s), 2 more not shown")
    assert main(["report", str(path), "--html", str(out), "--no-verify", "--ticket", "T-9"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: 0 decision(s)")


def test_a_carriage_return_inside_a_line_does_not_split_it(tmp_path: Path, engine: csrules.Engine) -> None:
    """Read in text mode, `{\r...}` was two lines: "neither a decision nor JSON Lines", exit 2,
    while `csrules coverage` read the same file."""
    decision = engine.evaluate(refund("45.00"), now=NOW).to_json().encode()
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b"{\r" + decision[1:] + b"\r\n" + decision + b"\n")
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(decision + b"\n" + decision + b"\n")
    badges = []
    for given in (path, plain):
        out = tmp_path / f"{given.stem}.html"
        assert main(["report", str(given), "--html", str(out)]) == 0
        badges.append(out.read_text(encoding="utf-8").count('<span class="badge identical">identical</span>'))
    assert badges[0] == badges[1] > 0


def test_a_line_separator_inside_a_decision_does_not_split_it(tmp_path: Path, engine: csrules.Engine) -> None:
    """`splitlines()` cut records at U+2028 inside a customer id: a decision file was "neither a
    decision nor JSON Lines", and an intact log's record was "not JSON and is not shown"."""
    odd = engine.evaluate({**refund("45.00"), "customer": {"id": "C\u20281\u00852"}}, now=NOW)
    single = tmp_path / "decision.json"
    single.write_text(odd.to_json(), encoding="utf-8")
    assert "\u2028" in single.read_text(encoding="utf-8")
    assert main(["report", str(single), "--html", str(tmp_path / "one.html")]) == 0
    log_path = tmp_path / "log.jsonl"
    log = csrules.DecisionLog(log_path)
    for decision in (engine.evaluate(refund("5.00"), now=NOW), odd, engine.evaluate(refund("7.00"), now=NOW)):
        log.append(decision)
    out = tmp_path / "log.html"
    assert main(["report", str(log_path), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "is not shown" not in html
    assert "C\\u20281\\x852" in html  # the id, its separators written out (explain.format_value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty [invalid-decision]"),
        ("not json\n", ":1: neither a decision nor JSON Lines [invalid-decision]"),
        ('{"ticket_id": "T-1"}', "not a decision: /outcome: field required [invalid-decision]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "in.json"
    path.write_text(content, encoding="utf-8")
    assert main(["report", str(path), "--html", str(tmp_path / "out.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.rstrip().endswith(message), err
    assert not (tmp_path / "out.html").exists()


# --- a real browser ------------------------------------------------------------------------------


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium as the machine's notes prescribe, offline: every host name fails to resolve."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args, url,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA PNG: the stdlib, no Pillow."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0)
            assert colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            chunks += body
    raw = zlib.decompress(chunks)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        previous = line
        rows.append(bytes(line) if channels == 3 else bytes(line[i] for i in range(stride) if i % 4 != 3))
    return width, height, rows


@pytest.fixture(scope="module")
def log_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a two-record log, written by the command line."""
    engine = csrules.load()
    folder = tmp_path_factory.mktemp("report")
    log = folder / "decisions.jsonl"
    fill_log(log, engine, ["45.00", "150.00"])
    assert main(["report", str(log), "--html", str(folder / "report.html")]) == 0
    return folder / "report.html"


@needs_chromium
def test_chromium_parses_the_trace_table_offline(log_page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, log_page.as_uri(), "--dump-dom").stdout.decode("utf-8")
    page = parse(dom.replace("<html", "<!DOCTYPE html><html", 1))
    rules = [r.id for r in csrules.load().bundle.rules]
    assert len(page.steps) == 2 * len(rules)
    assert [s.cells[0].split()[0] for s in page.steps] == rules * 2
    cells = [c for s in page.steps for c in s.cells]
    assert "holds" in cells
    assert "fails" in cells
    assert "fired" in cells
    assert "not fired" in cells
    assert "intact" in page.badges
    assert page.badges.count("identical") >= 4


@needs_chromium
def test_chromium_screenshot_shows_the_trace_table(log_page: Path, tmp_path: Path) -> None:
    """Screenshot the page, and the same page with the trace table hidden (`visibility: hidden`
    keeps the layout): the pixels that differ are the table, and they must be a real table."""
    hidden = tmp_path / "hidden.html"
    html = log_page.read_text(encoding="utf-8")
    hidden.write_text(
        html.replace("</style>", "table.trace { visibility: hidden; }</style>", 1), encoding="utf-8"
    )
    shots = []
    for name, page in (("shown", log_page), ("hidden", hidden)):
        shot = tmp_path / f"{name}.png"
        chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
        width, height, rows = png_pixels(shot)
        assert (width, height) == (WIDTH, HEIGHT)
        shots.append(rows)
    shown, blank = shots
    changed = [y for y in range(HEIGHT) if shown[y] != blank[y]]
    assert len(changed) > HEIGHT // 4, "the trace table is missing or tiny"
    top, bottom = changed[0], changed[-1]
    columns = [
        x
        for x in range(WIDTH)
        if any(shown[y][3 * x : 3 * x + 3] != blank[y][3 * x : 3 * x + 3] for y in changed[::7])
    ]
    left, right = columns[0], columns[-1]
    assert right - left > WIDTH // 2, (left, right)
    region = {
        shown[y][3 * x : 3 * x + 3] for y in range(top, bottom + 1, 3) for x in range(left, right + 1, 3)
    }
    empty = {
        blank[y][3 * x : 3 * x + 3] for y in range(top, bottom + 1, 3) for x in range(left, right + 1, 3)
    }
    assert len(empty) <= 2, "with the table hidden its region is background"
    assert len(region) > 20, "the table's region is (nearly) one colour"
    fired_tint, holds_green, fails_red = bytes((0xF5, 0xFB, 0xF7)), (0x17, 0x69, 0x2F), (0xA4, 0x22, 0x1B)
    assert fired_tint in region, "the inline CSS did not apply (no fired-row tint)"
    near = [
        min(sum(abs(a - b) for a, b in zip(pixel, ink, strict=True)) for pixel in region)
        for ink in (holds_green, fails_red)
    ]
    assert max(near) < 60, "no green 'holds' or red 'fails' text in the table"


def test_a_note_of_log_verify_is_on_the_page_and_in_the_summary(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """A head file one record behind (a crash, or a record appended by someone who could not
    write the head) is a note of `log verify`; the page said only "intact" and dropped it."""
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01", "45.00"])
    head = Path(f"{log}.head")
    behind = head.read_bytes()
    fill_log(log, engine, ["50.01"])  # appends a fourth record and moves the head
    head.write_bytes(behind)
    [note] = verify_log(log).notes
    assert "record 3 of 4" in note
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out), "--no-verify"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "intact</span> 4 record(s)" in html
    assert f"<p>Note: {note}</p>" in html
    assert capsys.readouterr().out.rstrip("\n").endswith(f", log intact (note: {note})")


def test_a_log_whose_keys_were_rewritten_with_escapes_is_still_a_log(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records are told from decisions by their keys without parsing every line; a record whose
    keys were rewritten as `"s\\u0065q"` (the same JSON) was then taken for a decisions file: exit 2,
    no page, instead of the tampering shown."""
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01"])
    log.with_name("decisions.jsonl.head").unlink()
    log.write_text(
        log.read_text(encoding="utf-8").replace('"seq"', '"s\\u0065q"').replace('"hash"', '"h\\u0061sh"'),
        encoding="utf-8",
    )
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out), "--no-verify"]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}: 2 decision(s), log tampered: {log}:1: the record is not in the form csrules "
        "writes: it was edited [altered-record]\n"
    )


def test_one_decision_followed_by_a_form_feed_is_one_decision(tmp_path: Path, engine: csrules.Engine) -> None:
    """Whitespace that JSON does not allow (a form feed, U+00A0) after the one decision was taken
    off before, and is again: "neither a decision nor JSON Lines" in between."""
    path = tmp_path / "decision.json"
    path.write_text(engine.evaluate(refund("45.00"), now=NOW).to_json() + "\f\u00a0", encoding="utf-8")
    out = tmp_path / "out.html"
    assert main(["report", str(path), "--html", str(out), "--no-verify"]) == 0
    assert "Decision log" not in out.read_text(encoding="utf-8")


def test_a_log_with_a_head_and_a_tampered_first_line_is_read_a_line_at_a_time(
    tmp_path: Path, engine: csrules.Engine
) -> None:
    """With a head file and a first line that is not JSON, the whole log was read as one text (to
    see whether it was one decision written over several lines)."""
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00"])
    record = log.read_bytes()
    log.write_bytes(b"garbage\n" + record * 2000)  # ~22 MB: the copies break the chain, no matter
    out = tmp_path / "out.html"
    tracemalloc.start()
    try:
        assert main(["report", str(log), "--html", str(out), "--no-verify", "--limit", "1"]) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


@pytest.mark.parametrize(
    ("old", "new"),
    [('"amount":45.0', '"amount":4.5e1'), ('"amount":45.0', '"amount":45.00'), ('"channel":"phone",', "")],
)
def test_the_report_replays_each_record_as_written_as_verify_does(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str], old: str, new: str
) -> None:
    """The record was read into a Decision first and that was replayed: `4.5e1` had become 45.0
    and a removed key its default, so the page said `identical` where `csrules verify` said
    `different`, for a decision file, a JSON Lines file and a log alike."""
    ticket = {**refund("45.00"), "channel": "phone"}
    text = engine.evaluate(ticket, now=NOW).to_json()
    assert text.count(old) == 1
    edited = text.replace(old, new)
    single, lines = tmp_path / "decision.json", tmp_path / "decisions.jsonl"
    single.write_text(edited, encoding="utf-8")
    lines.write_text(text + "\n" + edited + "\n", encoding="utf-8")
    assert main(["verify", str(single)]) == 1
    out = tmp_path / "out.html"
    for path, count in ((single, 1), (lines, 2)):
        capsys.readouterr()
        assert main(["report", str(path), "--html", str(out)]) == 0
        assert capsys.readouterr().out == f"wrote {out}: {count} decision(s), 1 not replayed identically\n"
        assert '<span class="badge different">different</span>' in out.read_text(encoding="utf-8")
    # In a log, the record's text as written too (its chain then says it was edited as well).
    log = tmp_path / "log.jsonl"
    log.write_text("", encoding="utf-8")
    csrules.DecisionLog(log).append(engine.evaluate(ticket, now=NOW))
    log.write_text(log.read_text(encoding="utf-8").replace(text, edited), encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(log), "--html", str(out)]) == 0
    assert capsys.readouterr().out.startswith(
        f"wrote {out}: 1 decision(s), 1 not replayed identically, log tampered"
    )


def test_a_json_string_holding_a_decision_is_no_decision(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """`"{...}"`, a decision's JSON as a JSON string, was read as the decision it holds."""
    path = tmp_path / "string.json"
    path.write_text(json.dumps(engine.evaluate(refund("5.00"), now=NOW).to_json()) + "\n", encoding="utf-8")
    assert main(["report", str(path), "--html", str(tmp_path / "out.html")]) == 2
    assert capsys.readouterr().err == (
        f"csrules: error: {path}:1: not a decision: input should be an object [invalid-decision]\n"
    )
    assert not (tmp_path / "out.html").exists()


def test_an_input_whose_name_leaves_no_room_for_a_head_file_is_reported(
    tmp_path: Path, engine: csrules.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """Looking for `NAME.head` beside a 252-byte name raised `File name too long`: internal error."""
    path = tmp_path / ("a" * 252)
    path.write_text(engine.evaluate(refund("5.00"), now=NOW).to_json(), encoding="utf-8")
    assert main(["report", str(path), "--html", str(tmp_path / "out.html")]) == 0
    assert capsys.readouterr().out.endswith(": 1 decision(s), 0 not replayed identically\n")


def test_records_appended_after_the_log_was_checked_are_not_shown_as_checked(
    tmp_path: Path,
    engine: csrules.Engine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log was checked in one read and its records listed in another: records appended in
    between were shown under `intact 2 record(s), every hash and link checked`."""
    log = tmp_path / "decisions.jsonl"
    fill_log(log, engine, ["5.00", "20.01"])

    def checked_then_appended(path: str) -> csrules.LogReport:
        report = verify_log(path)
        csrules.DecisionLog(path).append(engine.evaluate({**refund("7.00"), "id": "T-late"}, now=NOW))
        return report

    monkeypatch.setattr("csrules.cli.report.verify_log", checked_then_appended)
    out = tmp_path / "out.html"
    assert main(["report", str(log), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "intact</span> 2 record(s)" in html
    assert re.findall(r"Ticket <code>([^<]+)</code>", html) == ["T-1", "T-2"]
    assert "1 record(s) appended after the log was checked are not shown" in html
    assert capsys.readouterr().out.startswith(f"wrote {out}: 2 decision(s), 0 not replayed identically")


def test_ticket_ids_that_differ_only_in_escapes_or_invisible_characters_read_apart(
    engine: csrules.Engine,
) -> None:
    """The headings and the index showed `T-1\\n2` (a line break) and `T-1\\\\n2` (a backslash and
    an n) alike, and `T-1` with a zero-width space as `T-1\\u200b` like the text of those six
    characters, where the text outputs and the page's facts table tell them apart."""
    ids = ["T-1\n2", "T-1\\n2", "T-1\u200b", "T-1\\u200b", "T-1", "T-7: x", "T 1"]
    decisions = [engine.evaluate({**refund("5.00"), "id": ticket_id}, now=NOW) for ticket_id in ids]
    html = render_html([(d, None) for d in decisions], title="t", source="d.jsonl")
    headings = re.findall(r"<h2>Ticket <code>([^<]*)</code></h2>", html)
    indexed = re.findall(r"</a></td><td><code>([^<]*)</code></td>", html)
    assert (
        headings
        == indexed
        == [
            "T-1\\n2",
            "&quot;T-1\\\\n2&quot;",
            "T-1\\u200b",
            "&quot;T-1\\\\u200b&quot;",
            "T-1",
            "&quot;T-7: x&quot;",  # as `Ticket "T-7: x": APPROVE` in the text outputs
            "T 1",
        ]
    )
    for decision, shown in zip(decisions, headings, strict=True):  # the text outputs' own form
        assert decision.explain().startswith(f"Ticket {html_lib.unescape(shown)}: ")
    assert len(set(headings)) == len(ids)


def test_the_lines_of_a_rationale_show_as_lines(tmp_path: Path) -> None:
    """The breaks were kept in the page's text, but a browser joins lines: three numbered
    lines of a rationale read as one run-on line."""
    rule = (
        "- id: r\n    description: a rule\n    rationale: |\n      1. First.\n      2. Second.\n"
        "    when: [{request.amount: {gt: 1}}]\n    then: {require_role: senior}\n"
    )
    engine = csrules.load(write_policy(tmp_path, "rules:\n  " + rule))
    html = render_html([(engine.evaluate(refund("5.00"), now=NOW), None)], title="t", source="d.json")
    assert '<div class="rationale">1. First.\n2. Second.\n</div>' in html
    assert re.search(r"\.rationale \{[^}]*white-space: pre-line;", html)
