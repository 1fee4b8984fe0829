"""docs/fidelity.md is complete and honest.

The page lists every element, operation, state, log type and fault of the IPS reference
with its status in openips. This module fails when a name the code knows has no row, when
a status is not one of the four words, when an ``implemented`` row cites no test, and when
a cited test does not exist. ``count_by_status()`` gives the counts the page quotes
(``python scripts/fidelity_counts.py [--write]``).

At the end: tests for rows that no other test covered (pure functions, no AWS).
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "fidelity.md"

STATUSES = ("implemented", "accepted-and-stored", "not-applicable", "planned")
STATUS = re.compile(r"^(implemented|accepted-and-stored|not-applicable|planned \(#\d+\))$")
SECTIONS = {
    "a": "(a) UploadPostJob",
    "b": "(b) Operations",
    "c": "(c) States",
    "d": "(d) Job log",
    "e": "(e) Faults",
    "f": "(f) Company settings",
}
# Spec §8.1, in its order, and getAutoCropRect (§5.4).
OPERATIONS = (
    "getActiveJobs", "getScheduledJobs", "getJobLogs", "getJobLogDetails", "getAssetJobLogs",
    "stopJob", "pauseJob", "resumeJob", "deleteJob", "executeJob", "getArchivedJobLogDetails",
    "getAssetArchivedJobLogs", "getUploadTaskStatus", "getAutoCropRect",
)
HEADER = ["item", "spec §", "status", "openips behaviour", "evidence"]
COUNTS_START, COUNTS_END = "<!-- counts:start -->", "<!-- counts:end -->"
BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    section: str
    line: int
    item: str
    spec: str
    status: str
    behaviour: str
    evidence: str

    @property
    def names(self) -> set[str]:
        """The backticked names of the item cell (``a`` / ``.b`` / ``x = y`` forms included)."""
        return {name.strip() for name in BACKTICKED.findall(self.item)}

    @property
    def evidence_ids(self) -> list[str]:
        return [token for token in BACKTICKED.findall(self.evidence) if token.startswith("tests/")]

    @property
    def status_word(self) -> str:
        return "planned" if self.status.startswith("planned") else self.status


def split_cells(line: str) -> list[str]:
    """The cells of a Markdown table row; ``\\|`` is a pipe inside a cell."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [cell.strip().replace("\\|", "|") for cell in cells[1:-1]]


def parse(text: str) -> tuple[list[Row], list[str]]:
    """The rows of the lettered sections, and the problems found while reading them."""
    rows: list[Row] = []
    problems: list[str] = []
    section: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        heading = re.match(r"^## \(([a-z])\)", line)
        if heading:
            section = heading.group(1)
            continue
        if line.startswith("## "):
            section = None
            continue
        if section is None or not line.startswith("|"):
            continue
        cells = split_cells(line)
        if cells == HEADER or all(set(cell) <= set("-: ") for cell in cells):
            continue
        if len(cells) != len(HEADER):
            problems.append(f"line {number}: {len(cells)} cells, expected {len(HEADER)}: {line[:80]}")
            continue
        rows.append(Row(section, number, *cells))
    return rows, problems


@cache
def _doc() -> tuple[tuple[Row, ...], tuple[str, ...]]:
    rows, problems = parse(DOC.read_text(encoding="utf-8"))
    return tuple(rows), tuple(problems)


def rows_of(section: str | None = None) -> list[Row]:
    return [row for row in _doc()[0] if section is None or row.section == section]


def count_by_status(rows: list[Row] | None = None) -> dict[str, Counter]:
    """Section letter → Counter of status words (``planned (#N)`` counted as ``planned``)."""
    counts: dict[str, Counter] = {letter: Counter() for letter in SECTIONS}
    for row in rows if rows is not None else rows_of():
        counts[row.section][row.status_word] += 1
    return counts


def render_counts(counts: dict[str, Counter]) -> str:
    lines = ["| section | " + " | ".join(STATUSES) + " | rows |", "|---|" + "---:|" * (len(STATUSES) + 1)]
    total: Counter = Counter()
    for letter, title in SECTIONS.items():
        counter = counts.get(letter, Counter())
        total.update(counter)
        lines.append(f"| {title} | " + " | ".join(str(counter[s]) for s in STATUSES)
                     + f" | {sum(counter.values())} |")
    lines.append("| **all** | " + " | ".join(f"**{total[s]}**" for s in STATUSES) + f" | **{sum(total.values())}** |")
    return "\n".join(lines)


def counts_block(text: str) -> str | None:
    if COUNTS_START not in text or COUNTS_END not in text:
        return None
    return text.split(COUNTS_START, 1)[1].split(COUNTS_END, 1)[0].strip()


def write_counts(path: Path = DOC) -> str:
    """Replace the counts block of the page with the current counts; returns the table."""
    text = path.read_text(encoding="utf-8")
    table = render_counts(count_by_status(parse(text)[0]))
    head, rest = text.split(COUNTS_START, 1)
    tail = rest.split(COUNTS_END, 1)[1]
    path.write_text(f"{head}{COUNTS_START}\n{table}\n{COUNTS_END}{tail}", encoding="utf-8")
    return table


# ---- cited tests --------------------------------------------------------------------------------


@cache
def _tests_in(path: Path) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and member.name.startswith("test"):
                    found.update({member.name, f"{node.name}::{member.name}"})
    return frozenset(found)


def evidence_problem(node_id: str) -> str | None:
    """Why a cited ``file[::Class]::test[params]`` is not a test that exists (None: it is)."""
    file_part, _, name = node_id.partition("::")
    path = ROOT / file_part
    if not file_part.endswith(".py") or not path.is_file():
        return f"{file_part} does not exist"
    tests = _tests_in(path)
    if not name:
        return None if tests else f"{file_part} has no test functions"
    name = re.sub(r"\[.*\]$", "", name)
    return None if name in tests else f"{file_part} has no test {name}"


# ---- the checks ---------------------------------------------------------------------------------


def _fail_on(problems: list[str]) -> None:
    assert not problems, f"docs/fidelity.md: {len(problems)} problem(s):\n" + "\n".join(problems)


def test_every_table_row_has_five_cells():
    _fail_on(list(_doc()[1]))
    for letter in SECTIONS:
        assert rows_of(letter), f"section ({letter}) has no rows"


def test_every_status_is_one_of_the_four_and_none_is_todo():
    _fail_on([f"line {row.line}: status {row.status!r} of {row.item}" for row in rows_of()
              if not STATUS.match(row.status) or "todo" in row.status.lower()])


def test_every_upload_post_job_element_has_a_row():
    from openips.models.upload_job import UploadPostJob

    aliases = [field.alias or name for name, field in UploadPostJob.model_fields.items()]
    assert len(aliases) == 35  # spec §4
    named = set().union(*(row.names for row in rows_of("a")))
    _fail_on([f"UploadPostJob element {alias} has no row in (a)" for alias in aliases if alias not in named])


def test_every_log_type_has_a_row():
    from openips.models.domain import LogType

    named = {part.strip() for row in rows_of("d") for name in row.names for part in name.split("/")}
    named |= {re.sub(r"\s*\(.*\)$", "", name) for name in named}
    _fail_on([f"LogType {value.value} has no row in (d)" for value in LogType if value.value not in named])


def test_every_job_state_has_a_row():
    from openips.models.domain import JobState

    named = set().union(*(row.names for row in rows_of("c")))
    _fail_on([f"JobState {state.value} has no row in (c)" for state in JobState if state.value not in named])


def fault_codes() -> dict[str, int]:
    from openips.models import errors

    return {name: value for name, value in vars(errors).items()
            if name.isupper() and isinstance(value, int) and 10000 <= value < 40000}


def test_every_fault_code_has_a_row():
    codes = fault_codes()
    assert {10000, 10001, 20000, 20003, 20006, 30000, 30001, 30002, 30003} <= set(codes.values())
    items = " ".join(row.item for row in rows_of("e"))
    _fail_on([f"fault {name} = {code} has no row in (e)" for name, code in codes.items()
              if not re.search(rf"\b{code}\b", items)])


def test_every_operation_has_a_row():
    named = set().union(*(row.names for row in rows_of("b")))
    _fail_on([f"operation {operation} has no row in (b)" for operation in OPERATIONS if operation not in named])


def test_implemented_rows_cite_tests_and_the_others_give_a_reason():
    problems = []
    for row in rows_of():
        if row.status == "implemented" and not row.evidence_ids:
            problems.append(f"line {row.line}: implemented {row.item} cites no test")
        elif not row.evidence_ids and not row.evidence.startswith("—"):
            problems.append(f"line {row.line}: {row.item} cites no test and gives no reason (\"— why\")")
        elif row.evidence.strip() in ("", "—"):
            problems.append(f"line {row.line}: {row.item}: the evidence cell is empty")
    _fail_on(problems)


def test_every_cited_test_exists():
    problems = []
    for row in rows_of():
        for node_id in row.evidence_ids:
            problem = evidence_problem(node_id)
            if problem:
                problems.append(f"line {row.line} ({row.item}): {problem}")
    _fail_on(problems)


def test_the_counts_on_the_page_are_current():
    quoted = counts_block(DOC.read_text(encoding="utf-8"))
    assert quoted is not None, f"docs/fidelity.md has no {COUNTS_START} … {COUNTS_END} block"
    assert quoted == render_counts(count_by_status()), "run: python scripts/fidelity_counts.py --write"


def test_the_parser_reads_escaped_pipes_and_node_ids():
    rows, problems = parse("## (b) x\n| item | spec § | status | openips behaviour | evidence |\n|---|---|---|---|---|\n"
                           "| `a` | §1 | implemented | `x\\|y` | `tests/unit/test_fidelity_table.py::"
                           "test_the_parser_reads_escaped_pipes_and_node_ids[p]` |\n## Counts\n| not | a | row |\n")
    assert problems == [] and len(rows) == 1
    assert rows[0].behaviour == "`x|y`" and rows[0].names == {"a"}
    assert [evidence_problem(n) for n in rows[0].evidence_ids] == [None]
    assert evidence_problem("tests/unit/test_fidelity_table.py::test_nothing") is not None
    assert evidence_problem("tests/unit/no_such_file.py::test_x") is not None
    assert count_by_status(rows)["b"] == Counter({"implemented": 1})


# ---- evidence for rows no other test covered --------------------------------------------------------


REQUIRED = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}


def _job(options: dict | None = None, **changes):
    from openips.models.domain import Job, utcnow
    from openips.models.upload_job import UploadPostJob

    now = utcnow()
    return Job(job_handle="j-x", company_handle="c-x", name="n", original_name="n", submit_user_handle="u-x",
               submit_user_email="u@x.example", options=UploadPostJob.model_validate({**REQUIRED, **(options or {})}),
               start_date=now, last_activity=now, **changes)


def test_reported_states_follow_the_job():
    from openips.models.domain import JobCounts, JobState
    from openips.services.views import reported_state

    assert reported_state(_job()) == "WaitingClient"  # open, nothing in flight
    assert reported_state(_job(counts=JobCounts(received=2, done=1))) == "Running"  # a file in flight
    assert reported_state(_job(closed=True, expected_files=1)) == "Running"  # closed, draining
    assert reported_state(_job(state=JobState.WAITING_COORDINATOR, counts=JobCounts(received=2))) == \
        "WaitingCoordinator"
    assert reported_state(_job(state=JobState.STOPPING, closed=True)) == "Stopping"


def test_task_states_follow_the_counters():
    from openips.models.domain import JobCounts, utcnow
    from openips.services.views import active_job

    def task(job):
        (only,) = active_job(job, utcnow()).task_progress_array
        return only

    assert task(_job()).task_state == "New"
    in_flight = task(_job(counts=JobCounts(received=3, done=1)))
    assert (in_flight.task_state, in_flight.num_processed, in_flight.num_processing, in_flight.num_pending) == \
        ("Processing", 1, 2, 0)
    expected = task(_job(closed=True, expected_files=3, counts=JobCounts(received=1, done=1)))
    assert (expected.task_state, expected.num_pending, expected.progress) == ("Processing", 2, round(1 / 3, 4))
    assert task(_job(counts=JobCounts(received=2, done=2))).task_state == "Done"


def test_transfer_counts_are_files_received():
    from openips.models.domain import JobCounts
    from openips.services.views import job_log

    log = job_log(_job(counts=JobCounts(received=4, done=4, success=3, error=1)))
    assert (log.total_file_count, log.transfer_success_count, log.transfer_error_count,
            log.transfer_warning_count) == (4, 4, 0, 0)


def test_an_unhandled_error_is_a_500_ips_fault_30000(monkeypatch):
    from openips.handlers import http
    from openips_cli.inprocess import LambdaContext, http_api_event

    monkeypatch.setattr(http, "PUBLIC_ROUTES", http.PUBLIC_ROUTES | {("GET", "/v1/boom")})  # no key, no store
    app = http.make_app()

    @app.get("/v1/boom")
    def boom():
        raise RuntimeError("s3://secret-bucket/internal detail")

    result = app.resolve(http_api_event("GET", "/v1/boom", {}, None, None, "203.0.113.7"), LambdaContext())
    assert result["statusCode"] == 500
    assert json.loads(result["body"]) == {"fault": {"type": "ipsApiFault", "code": 30000,
                                                    "reason": "Internal error; see the service logs"}}


if __name__ == "__main__":
    print(render_counts(count_by_status()))
