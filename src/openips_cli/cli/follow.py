"""Following a job until it leaves the active list: its error and warning rows as they come, its counts live."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from openips_cli.cli.terminal import STYLES, Output, shown
from openips_cli.client import OpenIpsClient

POLL_SECONDS = 1.0
FOLLOW_TYPES = ["UploadError", "UploadWarning", "FileCancel"]
DETAIL_PAGE = 1000
LOG_TYPE_WIDTH = 14


def _row_key(row: dict) -> tuple:
    return row.get("logType"), row.get("dateCreated"), row.get("logMessage"), row.get("assetHandle")


class DetailFollower:
    """New error and warning rows of a job's log, each reported once."""

    def __init__(self, client: OpenIpsClient, job: str) -> None:
        self.client, self.job = client, job
        self.seen: set[tuple] = set()
        self.rows: list[dict] = []
        self.log: dict = {}
        self._full_pages = 0

    def poll(self, from_start: bool = False) -> list[dict]:
        """Rows not seen yet; pages already full are skipped unless ``from_start``."""
        page = 1 if from_start else self._full_pages + 1
        new: list[dict] = []
        while True:
            log = self.client.job_log_details(self.job, FOLLOW_TYPES, DETAIL_PAGE, page)["jobLogArray"][0]
            self.log = log
            rows = log.get("detailArray") or []
            for row in rows:
                if _row_key(row) not in self.seen:
                    self.seen.add(_row_key(row))
                    new.append(row)
            if len(rows) < DETAIL_PAGE:
                break
            self._full_pages = max(self._full_pages, page)
            page += 1
        self.rows += new
        return new


def detail_message(row: dict) -> str:
    """A log row's message with its ``auxArray`` warnings after it."""
    aux = "; ".join(a.get("logMessage", "") for a in row.get("auxArray") or [])
    return row.get("logMessage", "") + (f" ({aux})" if aux else "")


def detail_line(row: dict) -> str:
    return f"{row.get('logType', ''):<{LOG_TYPE_WIDTH}} {detail_message(row)}"


def summary(log: dict) -> str:
    """One line of a job's counts: ``job j-… (name): EndUpload: 3 files: 2 new, …, 1 errors``."""
    return (f"job {log.get('jobHandle')} ({log.get('jobName')}): {log.get('logType')}: "
            f"{log.get('totalFileCount', 0)} files: {log.get('fileSuccessCount', 0)} new, "
            f"{log.get('fileUpdateCount', 0)} updated, {log.get('fileDuplicateCount', 0)} duplicates, "
            f"{log.get('fileWarningCount', 0)} warnings, {log.get('fileErrorCount', 0)} errors"
            + (", FATAL ERROR" if log.get("fatalError") else ""))


class _StateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        state = task.fields["state"]
        return shown(state, STYLES.get(state, "bold"))


class _CountsColumn(ProgressColumn):
    """``2/5 processed · 1 processing · 2 pending · 1 errors · 0 warnings`` (cut at the terminal's edge)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis"))

    def render(self, task: Task) -> Text:
        fields = task.fields
        text = Text(f"{int(task.completed)}/{int(task.total or 0)} processed · {fields['processing']} processing · "
                    f"{fields['pending']} pending")
        for count, word, style in ((fields["errors"], "errors", "red"), (fields["warnings"], "warnings", "yellow")):
            text.append(" · ")
            text.append(f"{count} {word}", style=style if count else "")
        return text


class FollowDisplay:
    """How following shows itself.

    On a terminal (where ``info`` goes): one live line — spinner, state, bar, files processed,
    processing and pending, errors and warnings so far, time — with each error and warning row
    printed above it. On a pipe: each row and each change of state or message as a plain line.
    Under ``-q``: nothing.
    """

    def __init__(self, out: Output) -> None:
        self.out = out
        self.errors = self.warnings = 0
        self._last: tuple | None = None
        console: Console | None = out.info_console
        self._live: Progress | None = None
        if console is not None:
            self._live = Progress(SpinnerColumn(), _StateColumn(), BarColumn(bar_width=20), TimeElapsedColumn(),
                                  _CountsColumn(), console=console, transient=True,
                                  redirect_stdout=False, redirect_stderr=False)
            self._task = self._live.add_task("job", total=None, state="waiting", processing=0, pending=0,
                                             errors=0, warnings=0)
            self._live.start()

    def row(self, row: dict) -> None:
        """An error or warning row, seen for the first time."""
        log_type = row.get("logType", "")
        if log_type in ("UploadError", "FileCancel"):
            self.errors += 1
        elif log_type == "UploadWarning":
            self.warnings += 1
        if self._live is None:
            self.out.info(detail_line(row))
            return
        # The type, then the message; a long message wraps under itself, not under the type.
        line = Table.grid(padding=(0, 1))
        line.add_column(width=LOG_TYPE_WIDTH, no_wrap=True)
        line.add_column(overflow="fold")
        line.add_row(shown(log_type, STYLES.get(log_type, "")), shown(detail_message(row)))
        self._live.console.print(line)

    def state(self, job: dict) -> None:
        """The job as ``getActiveJobs`` shows it now."""
        if self._live is None:
            message = (job.get("state"), job.get("progressMessage"))
            if message != self._last:
                self._last = message
                self.out.info(f"{job.get('state')} {job.get('progress', 0)}%: {job.get('progressMessage', '')}")
            return
        task: dict[str, Any] = (job.get("taskProgressArray") or [{}])[0]
        processed, processing, pending = (int(task.get(k) or 0) for k in ("numProcessed", "numProcessing",
                                                                          "numPending"))
        expected = processed + processing + pending
        self._live.update(self._task, total=expected or None, completed=processed, state=str(job.get("state")),
                          processing=processing, pending=pending, errors=self.errors, warnings=self.warnings)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def follow(client: OpenIpsClient, job: str, out: Output) -> dict:
    """Poll the job until it leaves the active list; returns its final log with every error/warning row."""
    details = DetailFollower(client, job)
    display = FollowDisplay(out)
    try:
        while True:
            active = client.active_jobs(job_handle=job).get("jobArray") or []
            for row in details.poll(from_start=not active):
                display.row(row)
            if not active:
                break
            display.state(active[0])
            time.sleep(POLL_SECONDS)
    finally:
        display.close()
    return {**details.log, "detailArray": details.rows, "detailTotalRows": len(details.rows)}
