"""Sending the files to the job's presigned S3 form, ``parallel`` at a time, and showing how far it got."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TaskProgressColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from openips_cli.cli.terminal import human_size, printable, shown
from openips_cli.client import OpenIpsClient, S3Error, UploadCancelled, UploadRefused, upload_file

RENEW_MARGIN = timedelta(seconds=60)


def _expiration(form: dict) -> datetime:
    value = datetime.fromisoformat(str(form["expiration"]).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class FormHolder:
    """The job's presigned form, renewed once for every uploader when it is about to expire."""

    def __init__(self, client: OpenIpsClient, job: str, form: dict) -> None:
        self.client, self.job, self.form = client, job, form
        self._lock = threading.Lock()

    def get(self) -> dict:
        with self._lock:
            if _expiration(self.form) - datetime.now(timezone.utc) < RENEW_MARGIN:
                self.form = self.client.renew_upload_form(self.job)["upload"]
            return self.form


# ---- progress ----------------------------------------------------------------------------------


def tail(text: str, width: int) -> str:
    """The end of ``text`` in at most ``width`` terminal cells, ``…`` in front when cut (a path's end names it)."""
    if cell_len(text) <= width:
        return text
    kept: list[str] = []
    used = 1
    for ch in reversed(text):
        used += cell_len(ch)
        if used > width:
            break
        kept.append(ch)
    return "…" + "".join(reversed(kept))


class _LabelColumn(ProgressColumn):
    """The file's upload path, or the total's file count: a ``Text`` made when the row is."""

    WIDTH = 32

    def __init__(self) -> None:
        super().__init__(table_column=Column(width=self.WIDTH, no_wrap=True))

    def render(self, task: Task) -> Text:
        return task.fields["label"]


class _BytesColumn(ProgressColumn):
    """``1.5 MB / 4.0 MB`` (powers of 1024, as everywhere in the client)."""

    def render(self, task: Task) -> Text:
        return Text(f"{human_size(task.completed)} / {human_size(task.total or 0)}", style="progress.download")


class _RateColumn(ProgressColumn):
    """``3.2 MB/s`` once rich has seen enough of the transfer to tell; the average once it is over."""

    def render(self, task: Task) -> Text:
        speed = task.fields.get("average") or task.finished_speed or task.speed
        return Text(f"{human_size(speed)}/s" if speed else "", style="progress.data.speed")


class UploadProgress:
    """How an upload shows itself while it runs.

    On a terminal (stderr): a total bar (files done, bytes, rate, time left) above one bar per
    file in flight (the first ``FILE_ROWS`` of them); refusals are printed above the bars. On a
    pipe and under ``-q``: no bars, only the refusals, one plain line each on stderr.
    """

    FILE_ROWS = 8

    def __init__(self, sizes: dict[str, int], console: Console | None,
                 clock: Callable[[], float] | None = None) -> None:
        self.sizes = sizes
        self.total, self.files_total = sum(sizes.values()), len(sizes)
        self.files_done = self.sent = 0
        self._lock = threading.Lock()
        self._sent: dict[str, int] = {}
        self._tasks: dict[str, TaskID] = {}  # files in flight
        self._shown: list[str] = []  # those with a row, in start order
        self._waiting: list[str] = []  # those beyond FILE_ROWS, in start order
        self._bars: Progress | None = None
        if console is not None:
            self._bars = Progress(_LabelColumn(), BarColumn(bar_width=24), TaskProgressColumn(), _BytesColumn(),
                                  _RateColumn(), TimeRemainingColumn(), console=console, get_time=clock,
                                  redirect_stdout=False, redirect_stderr=False)
            self._total_row = self._bars.add_task("total", total=self.total, label=self._total_label())
            self._started = self._bars.get_time()
            self._bars.start()

    def _total_label(self) -> Text:
        waiting = f" (+{len(self._waiting)} not shown)" if self._waiting else ""
        return Text(f"{self.files_done}/{self.files_total} files{waiting}", style="bold")

    def file_started(self, relative: str, size: int) -> Callable[[int], None]:
        """A file's body starts: its row, and the callback its bytes are counted with."""
        task: TaskID | None = None
        with self._lock:
            self._sent[relative] = 0
            if self._bars is not None:
                row = len(self._shown) < self.FILE_ROWS
                label = Text(tail(printable(relative), _LabelColumn.WIDTH))
                task = self._tasks[relative] = self._bars.add_task(relative, total=size, visible=row, label=label)
                (self._shown if row else self._waiting).append(relative)
                self._bars.update(self._total_row, label=self._total_label())

        def sent(count: int) -> None:
            with self._lock:
                self._sent[relative] = self._sent.get(relative, 0) + count
                self.sent += count
                # Not once the row is gone: a body still read after an interruption counts nowhere.
                if self._bars is not None and task is not None and self._tasks.get(relative) == task:
                    self._bars.advance(task, count)
                    self._bars.advance(self._total_row, count)

        return sent

    def file_done(self, relative: str, refused: bool = False) -> None:
        """A file is confirmed or refused; a refused file's unsent bytes leave the total.

        (A new total restarts rich's estimate of the rate: it is back after the next few chunks.)
        """
        with self._lock:
            self.files_done += 1
            sent = self._sent.pop(relative, 0)
            if refused:
                self.total -= max(self.sizes.get(relative, 0) - sent, 0)
            if self._bars is None:
                return
            task = self._tasks.pop(relative, None)  # None: refused before its body started
            if relative in self._shown:
                self._shown.remove(relative)
                if self._waiting:
                    promoted = self._waiting.pop(0)
                    self._shown.append(promoted)
                    self._bars.update(self._tasks[promoted], visible=True)
            elif relative in self._waiting:
                self._waiting.remove(relative)
            if task is not None:
                self._bars.remove_task(task)
            self._bars.update(self._total_row, total=self.total, label=self._total_label())

    def message(self, text: str) -> None:
        """A line above the bars (or on its own line on a pipe)."""
        with self._lock:
            if self._bars is not None:
                self._bars.console.print(shown(text, "red"))
            else:
                print(text, file=sys.stderr, flush=True)

    def finish(self) -> None:
        """Stop drawing: the total bar stays as the last line, the rows of files still in flight go."""
        with self._lock:
            if self._bars is None:
                return
            for task in self._tasks.values():
                self._bars.remove_task(task)
            self._tasks.clear()
            self._shown.clear()
            self._waiting.clear()
            elapsed = self._bars.get_time() - self._started
            self._bars.update(self._total_row, total=self.total, label=self._total_label(),
                              average=self.sent / elapsed if elapsed > 0 else None)
            self._bars.stop()
            self._bars = None


# ---- sending -----------------------------------------------------------------------------------


def upload_all(holder: FormHolder, files: list[tuple[str, Path]], parallel: int, progress: UploadProgress,
               cancel: threading.Event) -> list[dict]:
    """Upload every file, ``parallel`` at a time; returns the refusals."""
    refused: list[dict] = []

    def one(relative: str, path: Path) -> None:
        form = holder.get()
        size = path.stat().st_size
        if size > int(form.get("maxFileSize") or size):
            raise UploadRefused("EntityTooLarge", f"{size} bytes is over the job's maxFileSize "
                                                  f"of {form['maxFileSize']} (not sent)")
        upload_file(form, relative, path, progress.file_started(relative, size), cancel=cancel)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="upload") as pool:
        pending: dict[Future, str] = {pool.submit(one, rel, path): rel for rel, path in files}
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    relative = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, UploadCancelled):
                        continue
                    if isinstance(error, S3Error):
                        refused.append({"file": relative, "code": error.code, "message": error.message})
                        progress.message(f"refused: {relative}: {error.code}: {error.message}")
                    elif isinstance(error, OSError):
                        refused.append({"file": relative, "code": "LocalFileError", "message": str(error)})
                        progress.message(f"refused: {relative}: LocalFileError: {error}")
                    elif error is not None:
                        raise error
                    progress.file_done(relative, refused=error is not None)
        except BaseException:
            # Stop queued files and make in-flight bodies fail at their next read.
            cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return refused
