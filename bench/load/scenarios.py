"""The load and fault scenarios: each starts its own local stack, runs its jobs and records what happened."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote_plus

from bench.load import images
from bench.load.driver import JobResult, Progress, Upload, check, percentile, run_job, run_jobs
from bench.load.reference import reference_seconds
from bench.load.stack import RssSampler, Stack, busiest_worker
from openips_cli import faults
from openips_cli.client import OpenIpsClient

FAULT_SEED_ENV = faults.ENV_SEED
QUEUE_DRAIN_TIMEOUT = 180.0  # seconds for re-sent notifications to be consumed
# Seconds for a lost finalize event to be redriven and run: past the sweeper's default 5 minutes,
# so that the scenario still ends when FINALIZE_REDRIVE_AFTER_SECONDS is not honoured.
FINALIZE_TIMEOUT = 420.0
# Fault stacks: the sweeper every 2 s redrives a lost finalize 5 s after the job ended (not 5 min).
FAULT_STACK_ENV = {"FINALIZE_REDRIVE_AFTER_SECONDS": "5"}
FAULT_SWEEP_SECONDS = 2


@dataclass
class Options:
    workers: int = 4
    repeat: int = 1
    timeout: float = 600.0  # seconds for a job to end once it is closed
    stall: float = 300.0  # seconds without any file accounted for before giving up on a job
    seed: int = 1
    workdir: Path = Path(".openips/load")
    large_files: int = 40
    small_files: int = 500


@dataclass
class RunRecord:
    """One measured run of a scenario: its jobs and what the stack did meanwhile."""

    scenario: str
    kind: str  # "load" or "fault"
    title: str
    run: int
    jobs: list[JobResult] = field(default_factory=list)
    peak_rss: int = 0  # the whole stack tree
    peak_rss_stack: int = 0  # the stack process alone: moto (every stored object), S3 front, API, pollers
    cpu_stack: float = 0.0  # CPU seconds of the stack process during the run
    cpu_workers: float = 0.0  # CPU seconds of the worker processes during the run
    reference_s: float | None = None
    injected: Counter = field(default_factory=Counter)  # faults fired, by "service kind"
    notes: list[str] = field(default_factory=list)
    extra_problems: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def files(self) -> int:
        return sum(len(j.accepted) for j in self.jobs)

    @property
    def bytes(self) -> int:
        return sum(j.bytes for j in self.jobs)

    @property
    def wall(self) -> float | None:
        """First upload of any job → the last job seen ended (None when one did not end)."""
        if not self.jobs or any(j.ended is None for j in self.jobs):
            return None
        return max(j.ended for j in self.jobs) - min(j.started for j in self.jobs)  # type: ignore[type-var]

    @property
    def upload_seconds(self) -> float | None:
        """First upload of any job → the last upload answered."""
        if not self.jobs or any(not j.uploaded for j in self.jobs):
            return None
        return max(j.uploaded for j in self.jobs) - min(j.started for j in self.jobs)

    @property
    def latencies(self) -> list[float]:
        return sorted(v for j in self.jobs for v in j.latencies)

    @property
    def problems(self) -> list[str]:
        return [f"{j.name} ({j.handle}): {p}" for j in self.jobs for p in j.problems] + self.extra_problems

    @property
    def lost(self) -> int:
        return sum(j.lost for j in self.jobs)

    @property
    def double_counted(self) -> int:
        return sum(j.double_counted for j in self.jobs)

    @property
    def error_rows(self) -> int:
        return sum(j.outcomes["UploadError"] + j.outcomes["FileCancel"] for j in self.jobs)

    @property
    def ok(self) -> bool:
        return bool(self.jobs) and not self.problems

    def as_json(self) -> dict:
        wall = self.wall
        return {
            "scenario": self.scenario, "kind": self.kind, "title": self.title, "run": self.run,
            "startedAt": self.started_at, "ok": self.ok, "files": self.files, "bytes": self.bytes,
            "uploadSeconds": self.upload_seconds, "wallSeconds": wall,
            "filesPerSecond": self.files / wall if wall else None,
            "latencyP50": percentile(self.latencies, 0.5), "latencyP95": percentile(self.latencies, 0.95),
            "peakRssBytes": self.peak_rss, "peakRssStackProcessBytes": self.peak_rss_stack,
            "cpuSecondsStackProcess": self.cpu_stack, "cpuSecondsWorkers": self.cpu_workers,
            "referenceSeconds": self.reference_s,
            "ratioToReference": wall / self.reference_s if wall and self.reference_s else None,
            "injected": dict(self.injected), "lost": self.lost, "doubleCounted": self.double_counted,
            "errorRows": self.error_rows, "problems": self.problems, "notes": self.notes,
            "jobs": [{"name": j.name, "jobHandle": j.handle, "outcome": j.outcome, "files": len(j.accepted),
                      "refused": [u.path for u in j.uploads if u.refused], "outcomes": dict(j.outcomes),
                      "summary": j.summary, "problems": j.problems} for j in self.jobs],
        }


def say(text: str) -> None:
    print(f"[load] {text}", file=sys.stderr, flush=True)


@contextmanager
def running_stack(opts: Options, name: str, env: dict[str, str] | None = None,
                  sweep_seconds: int | None = None) -> Iterator[tuple[Stack, RssSampler, list[str]]]:
    """A fresh stack for one scenario; the list it yields collects problems found at its shutdown."""
    stack = Stack(opts.workdir / name, workers=opts.workers, sweep_seconds=sweep_seconds, env=env)
    say(f"{name}: starting the local stack ({opts.workers} workers, state in {stack.state_dir})")
    stack.start()
    sampler = RssSampler(stack)
    sampler.start()
    at_stop: list[str] = []
    try:
        yield stack, sampler, at_stop
    finally:
        try:
            sampler.stop()
        finally:  # whatever happened, the stack this run started is stopped
            code = stack.stop()
            if code != 0:
                at_stop.append(f"the stack exited with {code} (log: {stack.log_path})")


def client_for(stack: Stack) -> OpenIpsClient:
    return OpenIpsClient(stack.info["apiUrl"], stack.info["apiKey"])


def warm_up(stack: Stack, opts: Options) -> list[str]:
    """A small job first, so every measured run meets warm workers (imports done), as a warm Lambda."""
    client = client_for(stack)
    try:
        result = run_job(client, "warm-up", images.as_uploads("warmup", images.small_sources(opts.workers * 2)),
                         parallel=opts.workers, timeout=opts.timeout, stall=opts.stall)
    finally:
        client.close()
    return [f"warm-up job: {p}" for p in result.problems]


@contextmanager
def measuring(stack: Stack, sampler: RssSampler, record: RunRecord) -> Iterator[None]:
    """Peak RSS and CPU seconds of the stack while the block runs, into ``record``."""
    sampler.reset()
    cpu_before = stack.cpu_seconds()
    try:
        yield
    finally:
        record.peak_rss, record.peak_rss_stack = sampler.reset()
        cpu_after = stack.cpu_seconds()
        record.cpu_stack = cpu_after[0] - cpu_before[0]
        record.cpu_workers = max(0.0, cpu_after[1] - cpu_before[1])


def _measured(stack: Stack, sampler: RssSampler, record: RunRecord,
              jobs: Callable[[], list[JobResult]]) -> RunRecord:
    with measuring(stack, sampler, record):
        record.jobs = jobs()
    for job in record.jobs:
        say(f"{record.scenario} run {record.run}: {job.name} {job.outcome}, {len(job.accepted)} files, "
            f"{'exact' if job.ok else '; '.join(job.problems)}")
    return record


# ---- load scenarios ---------------------------------------------------------------------------------


def small_500(opts: Options) -> list[RunRecord]:
    sources = images.small_sources(opts.small_files)
    title = f"1 job × {len(sources)} small images (64–256 px JPEG/PNG), 8 uploads at a time"
    return _load(opts, "small-500", title, lambda run: [(f"small-r{run}", sources)], parallel=8)


def two_jobs(opts: Options) -> list[RunRecord]:
    sources = images.small_sources(100)
    title = "2 concurrent jobs × 100 small images, 4 uploads at a time each"
    return _load(opts, "two-jobs", title, lambda run: [(f"pair-a-r{run}", sources), (f"pair-b-r{run}", sources)],
                 parallel=4)


def large_40(opts: Options) -> list[RunRecord]:
    say(f"large-40: generating {opts.large_files} × 6 MP JPEGs into {images.inputs.CACHE_DIR} (once)")
    sources = images.large_sources(opts.large_files)
    say(f"large-40: bare pyvips reference, {opts.workers} processes")
    reference = reference_seconds(sources, opts.workers)
    title = f"1 job × {len(sources)} 6 MP JPEGs (3000×2000), 4 uploads at a time"
    records = _load(opts, "large-40", title, lambda run: [(f"large-r{run}", sources)], parallel=4)
    for record in records:
        record.reference_s = reference
    return records


def _load(opts: Options, name: str, title: str, jobs_of: Callable[[int], list[tuple[str, list[Path]]]],
          parallel: int) -> list[RunRecord]:
    records: list[RunRecord] = []
    with running_stack(opts, name) as (stack, sampler, at_stop):
        warm = warm_up(stack, opts)
        for run in range(1, opts.repeat + 1):
            jobs = [(label, images.as_uploads(label, sources)) for label, sources in jobs_of(run)]
            say(f"{name} run {run}/{opts.repeat}: {sum(len(u) for _, u in jobs)} files in {len(jobs)} job(s)")
            record = RunRecord(name, "load", title, run)
            _measured(stack, sampler, record, lambda: run_jobs(
                lambda: client_for(stack), jobs, parallel=parallel, timeout=opts.timeout, stall=opts.stall))
            records.append(record)
        if records:
            records[0].extra_problems += warm
    if records:
        records[-1].extra_problems += at_stop
    return records


# ---- fault scenarios --------------------------------------------------------------------------------


def _fault_env(opts: Options, stack_dir: Path, rules: str | None) -> dict[str, str]:
    env = dict(FAULT_STACK_ENV)
    if rules:
        env.update({faults.ENV_RULES: rules, faults.ENV_SEED: str(opts.seed), faults.ENV_DIR: str(stack_dir)})
    return env


def _fault(opts: Options, name: str, title: str, rules: str | None,
           body: Callable[[Stack, RssSampler, RunRecord], None]) -> list[RunRecord]:
    """One fault scenario, ``opts.repeat`` times on one stack: ``body`` runs the jobs of a run."""
    records: list[RunRecord] = []
    stack_dir = opts.workdir / name
    with running_stack(opts, name, _fault_env(opts, stack_dir, rules), FAULT_SWEEP_SECONDS) as (stack, sampler,
                                                                                                 at_stop):
        for run in range(1, opts.repeat + 1):
            record = RunRecord(name, "fault", title, run)
            before = Counter(f"{s} {k}" for s, _, k in faults.fired(str(stack_dir)))
            say(f"{name} run {run}/{opts.repeat}")
            with measuring(stack, sampler, record):
                body(stack, sampler, record)
            _check_finalized(stack, record)
            record.injected.update(Counter(f"{s} {k}" for s, _, k in faults.fired(str(stack_dir))) - before)
            for job in record.jobs:
                say(f"{name} run {run}: {job.name} {job.outcome}, "
                    f"{'exact' if job.ok else '; '.join(job.problems)}")
            records.append(record)
    if records:
        records[-1].extra_problems += at_stop
    return records


def _concurrent_small(stack: Stack, opts: Options, record: RunRecord, jobs: int, files: int) -> None:
    sources = images.small_sources(files)
    record.jobs = run_jobs(lambda: client_for(stack),
                           [(f"{record.scenario}-{chr(97 + i)}-r{record.run}",
                             images.as_uploads(f"{record.scenario}-{chr(97 + i)}-r{record.run}", sources))
                            for i in range(jobs)],
                           parallel=4, timeout=opts.timeout, stall=opts.stall)


def aws_errors(name: str, title: str, rules: str) -> Callable[[Options], list[RunRecord]]:
    def scenario(opts: Options) -> list[RunRecord]:
        return _fault(opts, name, title, rules,
                      lambda stack, _sampler, record: _concurrent_small(stack, opts, record, 2, 50))
    return scenario


def kill_worker(opts: Options) -> list[RunRecord]:
    """SIGKILL the busiest worker (the one mid-file) once two files of the job are done."""
    title = "a worker process killed with SIGKILL mid-file (16 × 6 MP)"

    def body(stack: Stack, _sampler: RssSampler, record: RunRecord) -> None:
        killed: list[str] = []

        def watch(progress: Progress) -> None:
            if killed or progress.processed < 2 or progress.processing < 1:
                return
            found = busiest_worker(stack)
            if found is None:
                return
            pid, share = found
            stack_kill(pid)
            killed.append(f"killed worker {pid} (using {share:.0%} of a core) with {progress.processed} files "
                          f"done and {progress.processing} in flight")

        label = f"kill-r{record.run}"
        client = client_for(stack)
        try:
            record.jobs = [run_job(client, label, images.as_uploads(label, images.large_sources(16)), parallel=4,
                                   timeout=opts.timeout, stall=opts.stall, watch=watch)]
        finally:
            client.close()
        record.injected["worker SIGKILL"] = len(killed)
        record.notes += killed or ["no worker was killed: the job ended before two files were done"]
        if not killed:
            record.extra_problems.append("the fault was not injected")

    return _fault(opts, "kill-worker", title, None, body)


def stack_kill(pid: int) -> None:
    """SIGKILL one worker of the stack we started (by its PID, found under the stack's process)."""
    os.kill(pid, signal.SIGKILL)


def duplicate_notifications(opts: Options) -> list[RunRecord]:
    """Copies of S3 ObjectCreated events for objects already uploaded: during the upload, shuffled
    before the end, and again after the job ended; the job must still count every file once."""
    title = "duplicate and out-of-order S3 notifications (100 small files)"

    def body(stack: Stack, _sampler: RssSampler, record: RunRecord) -> None:
        sqs, s3 = stack.aws("sqs"), stack.aws("s3")
        queue = stack.info["resources"]["ProcessQueue"]
        bucket = stack.info["resources"]["IncomingBucket"]
        configuration = _notification_id(s3, bucket)
        rng = random.Random(opts.seed * 1000 + record.run)
        uploaded: list[str] = []
        sent = Counter()
        lock = threading.Lock()

        heads: dict[str, dict] = {}  # once the job is finalized its uploads are gone: keep what S3 said

        def resend(keys: Sequence[str], when: str) -> None:
            for key in keys:
                if key not in heads:
                    heads[key] = s3.head_object(Bucket=bucket, Key=key)
                head = heads[key]
                body_text = s3_event(bucket, key, head["ContentLength"], head["ETag"], configuration)
                sqs.send_message(QueueUrl=queue, MessageBody=body_text)
                with lock:
                    sent[when] += 1

        def during(result: JobResult, upload: Upload) -> None:
            with lock:
                uploaded.append(result.key_prefix + upload.path)
                batch = uploaded[-3:] if len(uploaded) % 3 == 0 else []
            resend(list(reversed(batch)), "during the upload")  # newest first: out of order

        def before_end(result: JobResult) -> None:
            keys = list(uploaded)
            rng.shuffle(keys)
            resend(keys, "shuffled, before the end")

        label = f"dup-r{record.run}"
        client = client_for(stack)
        try:
            job = run_job(client, label, images.as_uploads(label, images.small_sources(100)), parallel=4,
                          timeout=opts.timeout, stall=opts.stall, during_upload=during, before_end=before_end)
            record.jobs = [job]
            if job.outcome == "ended":
                late = rng.sample(uploaded, min(20, len(uploaded)))
                resend(late, "after the job ended")
                drained = _drain(sqs, queue)
                rows_before = len(job.rows)
                job.problems.clear()
                check(client, job)  # the late copies must not have added rows or counts
                if not drained:
                    record.extra_problems.append("ProcessQueue did not drain after the late copies")
                if len(job.rows) != rows_before:
                    record.extra_problems.append(f"late copies added {len(job.rows) - rows_before} log rows")
        finally:
            client.close()
        record.injected.update({f"s3 duplicate ({when})": n for when, n in sent.items()})
        record.notes.append(", ".join(f"{n} copies {when}" for when, n in sent.items()))

    return _fault(opts, "duplicate-notifications", title, None, body)


def s3_event(bucket: str, key: str, size: int, etag: str, configuration: str) -> str:
    """An ObjectCreated notification body as moto sends it (moto/s3/notifications.py, _get_s3_event).

    ``requestParameters.sourceIPAddress`` is left out, as moto leaves it out: the stack's
    poller adds it from the S3 front's record of the upload, as it does for moto's own events.
    """
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Post",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": configuration,
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": size, "eTag": etag.strip('"')}},
    }]})


def _notification_id(s3, bucket: str) -> str:
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    queues = config.get("QueueConfigurations") or [{}]
    return queues[0].get("Id", "openips-load")


def _drain(sqs, queue: str, timeout: float = QUEUE_DRAIN_TIMEOUT) -> bool:
    """Wait until the queue holds no message, visible or in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        if not any(int(v) for v in attrs.values()):
            return True
        time.sleep(1)
    return False


def lost_finalize(opts: Options) -> list[RunRecord]:
    """The job's JobFinished event is lost once (SendMessage "succeeds", nothing is sent); the
    sweeper must send it again, and FinalizeJobFunction must run (``_check_finalized``)."""
    title = "the job's finalize event lost (first JobFinished send dropped); sweeper redrive"

    def body(stack: Stack, _sampler: RssSampler, record: RunRecord) -> None:
        label = f"final-r{record.run}"
        client = client_for(stack)
        try:
            record.jobs = [run_job(client, label, images.as_uploads(label, images.small_sources(20)), parallel=4,
                                   timeout=opts.timeout, stall=opts.stall)]
        finally:
            client.close()

    # Per run: one drop, stack-wide (the limit counts across workers), of the JobEventsQueue send.
    rules = f"sqs.SendMessage@JobEventsQueue:drop:1:{opts.repeat}"
    return _fault(opts, "lost-finalize", title, rules, body)


def _check_finalized(stack: Stack, record: RunRecord) -> None:
    """Every ended job of a fault run must also be finalized (FinalizeJobFunction ran), lost event or not."""
    waits = []
    for job in record.jobs:
        if job.outcome != "ended":
            continue
        waited = _wait_finalized(stack, job.handle)
        if waited is None:
            record.extra_problems.append(f"{job.name} was not finalized within {FINALIZE_TIMEOUT:.0f} s of its end")
        else:
            waits.append(waited)
    if waits and max(waits) > 3:
        record.notes.append(f"finalized up to {max(waits):.0f} s after the end (the sweeper redrove "
                            f"{redriven(stack)} finalize events so far; it runs every {FAULT_SWEEP_SECONDS} s and "
                            f"redrives {FAULT_STACK_ENV['FINALIZE_REDRIVE_AFTER_SECONDS']} s after an end)")
    if waits and max(waits) > 60:
        record.notes.append("the sweeper did not honour FINALIZE_REDRIVE_AFTER_SECONDS")


def redriven(stack: Stack) -> int:
    """Finalize events the sweeper sent again, from its ``sweep acted`` log lines (JSON, Powertools)."""
    total = 0
    for line in stack.log_path.read_text(errors="replace").splitlines():
        if '"sweep acted"' in line:
            try:
                total += int(json.loads(line).get("finalize_redriven", 0))
            except ValueError:
                continue
    return total


def _wait_finalized(stack: Stack, handle: str) -> float | None:
    """Seconds until the job item says ``finalized`` (read from moto's DynamoDB: no API shows it)."""
    table = stack.info["resources"]["JobsTable"]
    dynamodb = stack.aws("dynamodb")
    started = time.monotonic()
    while time.monotonic() - started < FINALIZE_TIMEOUT:
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"J#{handle}"}, "sk": {"S": "JOB"}},
                                 ConsistentRead=True).get("Item", {})
        if item.get("finalized", {}).get("BOOL"):
            return time.monotonic() - started
        time.sleep(1)
    return None


LOAD: dict[str, Callable[[Options], list[RunRecord]]] = {
    "small-500": small_500,
    "two-jobs": two_jobs,
    "large-40": large_40,
}
FAULTS: dict[str, Callable[[Options], list[RunRecord]]] = {
    "kill-worker": kill_worker,
    "dynamodb-errors": aws_errors(
        "dynamodb-errors", "DynamoDB ThrottlingException 10 %, ProvisionedThroughputExceeded 5 %, 500 5 % of attempts",
        "dynamodb:throttle:0.1,dynamodb:provisioned:0.05,dynamodb:500:0.05"),
    "dynamodb-lost-answers": aws_errors(
        "dynamodb-lost-answers", "DynamoDB applies the write, then its answer is lost as a 500 (5 % of attempts)",
        "dynamodb:500after:0.05"),
    "s3-errors": aws_errors("s3-errors", "S3 500 InternalError 5 % and 503 SlowDown 5 % of attempts",
                            "s3:500:0.05,s3:503:0.05"),
    # The workers' only SQS calls are SendMessage (job events, deferrals): a high rate, so that a third
    # of them outlast botocore's 5 attempts and the job's finalize event is lost (the sweeper redrives it).
    "sqs-errors": aws_errors("sqs-errors", "SQS 500 InternalFailure on 80 % of the workers' attempts",
                             "sqs:500:0.8"),
    "duplicate-notifications": duplicate_notifications,
    "lost-finalize": lost_finalize,
}
