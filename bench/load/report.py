"""The markdown report of a load run: context, the load table, the 6 MP yardstick, the fault table, problems."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence

from bench.load.driver import percentile
from bench.load.scenarios import Options, RunRecord
from bench.load.stack import ROOT

TARGET_VS_PYVIPS = 1.5
MIB = 1024 * 1024


def render(records: Sequence[RunRecord], opts: Options, elapsed: float, load: tuple[float, float]) -> str:
    lines = ["# openips load test", ""]
    lines += [f"- {line}" for line in _context(opts, elapsed, load)]
    loads = [r for r in records if r.kind == "load"]
    faults = [r for r in records if r.kind == "fault"]
    if loads:
        lines += ["", "## Load", "", _table(
            ["scenario", "run", "jobs", "files", "MB", "uploads s", "wall s", "files/s", "MB/s", "latency p50 s",
             "latency p95 s", "peak RSS MiB (stack process)", "CPU s stack process / workers", "accounting"],
            [[r.scenario, r.run, len(r.jobs), r.files, f"{r.bytes / 1e6:.1f}", _num(r.upload_seconds), _num(r.wall),
              _num(r.files / r.wall if r.wall else None), _num(r.bytes / 1e6 / r.wall if r.wall else None),
              _num(percentile(r.latencies, 0.5), 2), _num(percentile(r.latencies, 0.95), 2),
              f"{r.peak_rss / MIB:.0f} ({r.peak_rss_stack / MIB:.0f})", f"{r.cpu_stack:.0f} / {r.cpu_workers:.0f}",
              _verdict(r)] for r in loads])]
        lines += ["", "Scenarios:", ""] + [f"- `{name}`: {title}" for name, title in
                                          dict((r.scenario, r.title) for r in loads).items()]
        lines += _yardstick([r for r in loads if r.reference_s])
    if faults:
        lines += ["", "## Faults", "", _table(
            ["fault", "run", "injected", "outcome", "files lost", "files double-counted", "UploadError rows",
             "notes"],
            [[f"`{r.scenario}`: {r.title}", r.run, _injected(r), _verdict(r), r.lost, r.double_counted,
              r.error_rows, "; ".join(r.notes)] for r in faults])]
        lines += ["", "Files lost: uploaded files with no outcome row (or `totalFileCount` short of the uploads); "
                  "double-counted: extra outcome rows (or counters over the uploads). Both must be 0. "
                  "An UploadError row is an accounted-for file (its bytes are kept under quarantine/)."]
    problems = [(r, p) for r in records for p in r.problems]
    lines += ["", "## Problems", ""]
    lines += [f"- `{r.scenario}` run {r.run}: {p}" for r, p in problems] or ["None: every job ended with exact counts."]
    return "\n".join(lines) + "\n"


def _yardstick(records: list[RunRecord]) -> list[str]:
    if not records:
        return []
    reference = records[0].reference_s or 0.0
    rows, streak, best = [], 0, 0
    for r in records:
        ratio = r.wall / reference if r.wall and reference else None
        rows.append([r.run, _num(r.wall), _num(reference), _num(ratio, 2),
                     "—" if ratio is None else ("met" if ratio <= TARGET_VS_PYVIPS else "not met")])
        streak = streak + 1 if r.ok else 0
        best = max(best, streak)
    ratios = [r.wall / reference for r in records if r.wall and reference]
    lines = ["", f"## {records[0].files} × 6 MP against bare pyvips", "",
             "Bare pyvips: the same decode → 256×256 pyramid TIFF (JPEG Q85) of the same files, from local disk, "
             "in as many warm processes as the stack has workers (bench/load/reference.py). The stack's wall also "
             "holds the uploads, S3 and DynamoDB on moto, the queue and the API; the target is a report, never a "
             "failure.", "",
             _table(["run", "stack wall s", "bare pyvips s", "ratio", f"target ≤ {TARGET_VS_PYVIPS}×"], rows), ""]
    if ratios:
        lines.append(f"- median ratio {percentile(ratios, 0.5):.2f}× (target ≤ {TARGET_VS_PYVIPS}×: "
                     f"**{'met' if percentile(ratios, 0.5) <= TARGET_VS_PYVIPS else 'not met'}**)")
    lines.append(f"- exact counts in {sum(r.ok for r in records)} of {len(records)} runs; longest run of exact "
                 f"jobs in a row: {best}")
    return lines


def _context(opts: Options, elapsed: float, load: tuple[float, float]) -> list[str]:
    import pyvips

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    vips = os.environ.get("VIPS_CONCURRENCY")
    return [
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, openips {commit}, total {elapsed:.0f} s, "
        f"1-min load average {load[0]:.2f} at start and {load[1]:.2f} at the end (other work on the machine skews "
        "the timings)",
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}, "
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        f"each scenario: a fresh `openips local up` subprocess with {opts.workers} workers, warmed by a small job "
        f"first; VIPS_CONCURRENCY {vips if vips else 'unset (libvips: one thread per core)'} in the stack and the "
        "reference alike; uploads with the `openips` client library (`upload_file`) to the presigned form",
        "wall: first upload POST → the client sees the job ended (gone from getActiveJobs and its summary "
        "EndUpload; polled every 0.5 s); uploads: first upload POST → the last upload answered; "
        "MB/s: uploaded bytes / wall",
        "latency: a file's outcome row `dateCreated` (stamped when its processing is written) − the moment the "
        "S3 front answered its upload (client clock, same machine); so it includes queueing behind other files",
        "peak RSS: the summed RSS of the stack process and every process under it (its workers), sampled every "
        "0.25 s from /proc; in brackets the stack process alone (moto, which keeps every stored object in memory, "
        "the S3 front, the API, the pollers); CPU s: what each side used during the run (/proc utime + stime)",
    ]


def _table(headers: list[str], rows: list[list[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(out)


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _verdict(record: RunRecord) -> str:
    if record.ok:
        return "exact"
    outcomes = sorted({j.outcome for j in record.jobs if j.outcome != "ended"})
    what = f"job {', '.join(outcomes)}; " if outcomes else ""
    return f"**{what}{len(record.problems)} problem{'s' if len(record.problems) != 1 else ''}**"


def _injected(record: RunRecord) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(record.injected.items())) or "0"
