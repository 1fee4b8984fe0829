"""One upload job driven like a user over HTTP (the ``openips`` client library), and its exact accounting.

``run_job`` opens a job, posts every file to its presigned form from a thread pool, ends the
job, waits until it has ended (or stalls, or times out) and then checks that every uploaded
file was accounted for exactly once: one outcome row per file, one ``EndUpload`` row, and
the same numbers in the job summary (``log-details``), in ``getJobLogs`` and in the text of
the ``EndUpload`` row (``job.end`` in functions/openips/models/messages.py).
"""

from __future__ import annotations

import math
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from openips_cli.client import ApiConnectionError, ApiError, OpenIpsClient, UploadRefused, upload_file

# Options of every load job: nothing optional, no mail; files keep their unique names.
UPLOAD_PARAMS = {"overwrite": True, "readyForPublish": False, "createMask": False, "emailSetting": "None"}
# The one row each uploaded file gets (processing.py); FileCancel only after stopJob.
OUTCOME_TYPES = ("UploadSuccess", "FileUpdated", "DuplicateSkipped", "UploadError", "FileCancel")
# The EndUpload row's English text (messages.py "job.end"); the job name before it may be anything.
END_MESSAGE = re.compile(r"ended \((?P<reason>[^)]*)\): (?P<received>\d+) files, (?P<success>\d+) new, "
                         r"(?P<update>\d+) updated, (?P<duplicate>\d+) duplicates skipped, (?P<error>\d+) errors")
POLL_SECONDS = 0.5
PAGE = 1000  # jobs.MAX_RECORDS_PER_PAGE


@dataclass
class Upload:
    """One file of a job: its path in the job, its bytes on disk, and when S3 took it."""

    path: str
    source: Path
    size: int
    uploaded_at: float | None = None  # time.time() when the S3 front answered 204
    refused: str | None = None  # the form refused it: it never reached S3 and is owed no row


@dataclass
class Progress:
    """What ``getActiveJobs`` says of a job still running."""

    processed: int
    processing: int
    pending: int
    state: str


@dataclass
class JobResult:
    name: str
    handle: str = ""
    key_prefix: str = ""  # the job's S3 prefix (incoming/<company>/<job>/)
    uploads: list[Upload] = field(default_factory=list)
    started: float = 0.0  # monotonic, before the first upload
    uploaded: float = 0.0  # monotonic, after the last upload
    ended: float | None = None  # monotonic, when the client saw the job ended
    outcome: str = "not run"  # ended | stalled | timed out | failed: …
    summary: dict = field(default_factory=dict)  # log-details' JobLog (counters)
    listed: dict = field(default_factory=dict)  # the job's getJobLogs row
    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lost: int = 0
    double_counted: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, upload answered → row written
    outcomes: Counter = field(default_factory=Counter)

    @property
    def accepted(self) -> list[Upload]:
        return [u for u in self.uploads if u.refused is None]

    @property
    def bytes(self) -> int:
        return sum(u.size for u in self.accepted)

    @property
    def wall(self) -> float | None:
        return self.ended - self.started if self.ended is not None else None

    @property
    def ok(self) -> bool:
        return self.outcome == "ended" and not self.problems


def open_job(client: OpenIpsClient, name: str) -> tuple[str, dict]:
    opened = client.create_upload_job(name, UPLOAD_PARAMS)
    return opened["jobHandle"], opened["upload"]


def upload_all(form: dict, uploads: Sequence[Upload], parallel: int,
               on_uploaded: Callable[[Upload], None] | None = None) -> None:
    """POST every file to the form, ``parallel`` at a time, each with the client's own streamed upload."""

    def one(upload: Upload) -> None:
        try:
            upload_file(form, upload.path, upload.source)
            upload.uploaded_at = time.time()
        except UploadRefused as exc:
            upload.refused = f"{exc.code}: {exc.message}"
            return
        if on_uploaded is not None:
            on_uploaded(upload)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="upload") as pool:
        for future in [pool.submit(one, u) for u in uploads]:
            future.result()


def progress(client: OpenIpsClient, handle: str) -> Progress | None:
    """The job's progress while it is active; None once it left ``getActiveJobs`` (ended)."""
    jobs = client.active_jobs(job_handle=handle).get("jobArray", [])
    if not jobs:
        return None
    task = (jobs[0].get("taskProgressArray") or [{}])[0]
    return Progress(task.get("numProcessed", 0), task.get("numProcessing", 0), task.get("numPending", 0),
                    jobs[0].get("state", ""))


def wait_until_ended(client: OpenIpsClient, handle: str, timeout: float, stall: float,
                     watch: Callable[[Progress], None] | None = None) -> str:
    """``ended``, ``stalled`` (its progress did not move for ``stall`` seconds) or ``timed out``.

    Ended means gone from ``getActiveJobs`` *and* its summary ``logType`` is ``EndUpload``.
    """
    deadline = time.monotonic() + timeout
    last, changed = None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            now_progress = progress(client, handle)
            if now_progress is None and _summary(client, handle).get("logType") == "EndUpload":
                return "ended"
        except (ApiError, ApiConnectionError):
            now_progress = last  # a busy API is not a verdict; the deadline is
        if now_progress is not None:
            key = (now_progress.processed, now_progress.processing, now_progress.pending)
            if last is None or key != (last.processed, last.processing, last.pending):
                changed = time.monotonic()
            last = now_progress
            if watch is not None:
                watch(now_progress)
        if time.monotonic() - changed > stall:
            return "stalled"
        time.sleep(POLL_SECONDS)
    return "timed out"


def run_job(client: OpenIpsClient, name: str, uploads: Sequence[Upload], *, parallel: int,
            timeout: float = 600.0, stall: float = 300.0,
            during_upload: Callable[[JobResult, Upload], None] | None = None,
            before_end: Callable[[JobResult], None] | None = None,
            watch: Callable[[Progress], None] | None = None) -> JobResult:
    """The whole job as a user runs it, then its accounting (``result.problems`` empty when exact)."""
    result = JobResult(name=name, uploads=list(uploads))
    try:
        result.handle, form = open_job(client, name)
        result.key_prefix = form["keyPrefix"]
        result.started = time.monotonic()
        upload_all(form, result.uploads, parallel,
                   (lambda upload: during_upload(result, upload)) if during_upload is not None else None)
        result.uploaded = time.monotonic()
        if before_end is not None:
            before_end(result)
        client.end_upload_job(result.handle)
        result.outcome = wait_until_ended(client, result.handle, timeout, stall, watch)
        if result.outcome == "ended":
            result.ended = time.monotonic()
        check(client, result)
    except (ApiError, ApiConnectionError) as exc:
        result.outcome = f"failed: {exc}"
        result.problems.append(f"the API failed: {exc}")
    return result


def _summary(client: OpenIpsClient, handle: str) -> dict:
    return client.job_log_details(handle, records_per_page=1)["jobLogArray"][0]


def log_rows(client: OpenIpsClient, handle: str, expected: int) -> tuple[dict, list[dict]]:
    """The job's summary and every one of its log rows (pages of 1000, oldest first, in English)."""
    rows: list[dict] = []
    summary: dict = {}
    for page in range(1, expected // PAGE + 10):  # bounded: a few pages more than the files need
        log = client.job_log_details(handle, records_per_page=PAGE, results_page=page, locale="en-US")
        summary = log["jobLogArray"][0]
        batch = summary.pop("detailArray", None) or []
        rows += batch
        if len(batch) < PAGE:
            break
    return summary, rows


def check(client: OpenIpsClient, result: JobResult) -> None:
    """Exact accounting of an ended (or given-up) job into ``result``: problems, lost, double-counted."""
    accepted = result.accepted
    n = len(accepted)
    result.summary, result.rows = log_rows(client, result.handle, n)
    problems = result.problems
    if result.outcome != "ended":
        problems.append(f"the job did not end ({result.outcome}); summary state {result.summary.get('logType')}")

    # One outcome row per uploaded file; the path starts every file row's message.
    by_path: dict[str, list[dict]] = {}
    for row in result.rows:
        if row.get("logType") in OUTCOME_TYPES:
            by_path.setdefault(row.get("logMessage", "").split(" ", 1)[0], []).append(row)
    known = {u.path for u in accepted}
    missing = [u.path for u in accepted if u.path not in by_path]
    repeated = {p: len(r) for p, r in by_path.items() if p in known and len(r) > 1}
    strangers = sorted(p for p in by_path if p not in known)
    if missing:
        problems.append(f"{len(missing)} uploaded files have no outcome row (e.g. {', '.join(sorted(missing)[:3])})")
    if repeated:
        problems.append(f"{len(repeated)} files have more than one outcome row "
                        f"(e.g. {', '.join(f'{p} ×{c}' for p, c in sorted(repeated.items())[:3])})")
    if strangers:
        problems.append(f"{len(strangers)} outcome rows name no uploaded file (e.g. {', '.join(strangers[:3])})")
    ends = [r for r in result.rows if r.get("logType") == "EndUpload"]
    if len(ends) != 1:
        problems.append(f"{len(ends)} EndUpload rows, not 1")
    result.outcomes = Counter(r["logType"] for rows in by_path.values() for r in rows)

    # The counters: summary, getJobLogs and the EndUpload text all say n, and agree with the rows.
    counters = _counters(result.summary)
    _compare(problems, "log-details summary", counters, n, result.outcomes)
    try:
        listed = client.job_logs(num_rows=1000).get("jobLogArray", [])
        result.listed = next((j for j in listed if j.get("jobHandle") == result.handle), {})
    except (ApiError, ApiConnectionError) as exc:
        problems.append(f"getJobLogs failed: {exc}")
    if not result.listed:
        problems.append("the job is not in getJobLogs")
    elif result.outcome == "ended" and _counters(result.listed) != counters:  # a running job's move on
        problems.append(f"getJobLogs counters {_counters(result.listed)} differ from log-details {counters}")
    for end in ends[:1]:
        match = END_MESSAGE.search(end.get("logMessage", ""))
        if match is None:
            problems.append(f"EndUpload message does not parse: {end.get('logMessage')!r}")
            continue
        written = {k: int(v) for k, v in match.groupdict().items() if k != "reason"}
        if written != counters:
            problems.append(f"EndUpload message says {written}, the counters {counters}")

    result.lost = max(len(missing), n - counters["received"])
    result.double_counted = max(sum(c - 1 for c in repeated.values()), counters["received"] - n,
                                sum(counters[k] for k in ("success", "update", "duplicate", "error")) - n)
    uploaded_at = {u.path: u.uploaded_at for u in accepted}
    result.latencies = sorted(
        parse_date(rows[0]["dateCreated"]) - uploaded_at[path]
        for path, rows in by_path.items() if path in uploaded_at and uploaded_at[path] is not None)


def _counters(log: dict) -> dict[str, int]:
    return {"received": log.get("totalFileCount", -1), "success": log.get("fileSuccessCount", -1),
            "update": log.get("fileUpdateCount", -1), "duplicate": log.get("fileDuplicateCount", -1),
            "error": log.get("fileErrorCount", -1)}


def _compare(problems: list[str], where: str, counters: dict[str, int], n: int, rows: Counter) -> None:
    if counters["received"] != n:
        problems.append(f"{where}: totalFileCount {counters['received']}, {n} files uploaded")
    outcomes = counters["success"] + counters["update"] + counters["duplicate"] + counters["error"]
    if outcomes != n:
        problems.append(f"{where}: success+update+duplicate+error = {outcomes}, {n} files uploaded")
    by_rows = {"success": rows["UploadSuccess"], "update": rows["FileUpdated"],
               "duplicate": rows["DuplicateSkipped"], "error": rows["UploadError"] + rows["FileCancel"]}
    differ = {k: (counters[k], v) for k, v in by_rows.items() if counters[k] != v}
    if differ:
        problems.append(f"{where}: counters differ from the rows (counter, rows): {differ}")


def parse_date(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def run_jobs(client_factory: Callable[[], OpenIpsClient], jobs: Sequence[tuple[str, Sequence[Upload]]],
             **kwargs) -> list[JobResult]:
    """Several jobs at once, each from its own thread and client, as separate users would."""
    results: list[JobResult | None] = [None] * len(jobs)

    def one(index: int, name: str, uploads: Sequence[Upload]) -> None:
        client = client_factory()
        try:
            results[index] = run_job(client, name, uploads, **kwargs)
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i, name, uploads), name=f"job-{name}")
               for i, (name, uploads) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r if r is not None else JobResult(name=jobs[i][0], outcome="failed: crashed",
                                              problems=["the job's thread crashed"])
            for i, r in enumerate(results)]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
