"""``python -m bench.run``: every variant × input in fresh processes; a markdown table and the targets.

Exits 0 whatever the numbers are (benchmarks never fail the build); only a broken harness raises.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import cold_start, delivery, inputs, smart_crop, transcode
from bench.variants import VARIANTS, crop_margins

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.md"
STEPS_DIR = ROOT / "functions" / "openips" / "imaging" / "steps"
TIME_BIN = "/usr/bin/time"
# The ProcessFile function's environment in template.yaml, given to every variant alike.
CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "VIPS_CONCURRENCY": "2"}
# The ProcessFile function's MemorySize in template.yaml: what Pillow would have for the huge input.
DEFAULT_PILLOW_CAP_GIB = 2.0
TARGET_VS_LIBVIPS = 1.15
TARGET_24MP_WHOLE_PROCESS = 1.05  # issue 14: imports included, on the 24 MP JPEG
TARGET_VS_PILLOW = 3.0
TARGET_HUGE_RSS_MIB = 1024.0
FAILED_EXIT = 3


@dataclass(slots=True)
class Sample:
    """One child process: whole-process wall and peak RSS, and what the child reported."""

    wall_s: float
    rss_mib: float
    ok: bool
    in_process_s: float | None = None
    output_bytes: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Result:
    """The measured samples (warm-up excluded) of one variant on one input."""

    input_name: str
    variant: str
    samples: list[Sample] = field(default_factory=list)
    note: str | None = None

    @property
    def failure(self) -> Sample | None:
        return next((s for s in self.samples if not s.ok), None)

    @property
    def ok(self) -> bool:
        return bool(self.samples) and self.failure is None

    @property
    def wall(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def in_process(self) -> float:
        return statistics.median(s.in_process_s or 0.0 for s in self.samples)

    @property
    def rss(self) -> float:
        return statistics.median(s.rss_mib for s in self.samples)

    @property
    def output_mb(self) -> float:
        return statistics.median((s.output_bytes or 0) / 1e6 for s in self.samples)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the matrix, print and save the report; 0 whatever the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the small inputs, 1 repeat (CI smoke)")
    parser.add_argument("--repeat", type=int, help="measured runs per cell after 1 warm-up (default 5; quick 1)")
    parser.add_argument("--inputs", help="comma-separated input names (default: all full-size inputs)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, default all three")
    parser.add_argument("--pillow-cap-gib", type=float, default=DEFAULT_PILLOW_CAP_GIB,
                        help="RLIMIT_AS for Pillow on the 30000x30000 input; 0 = uncapped")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per child process")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"markdown report (default {RESULTS})")
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat must be >= 1")
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    selected = inputs.select(quick=args.quick, names=args.inputs.split(",") if args.inputs else None)

    started, load_before = time.monotonic(), os.getloadavg()[0]
    results: list[Result] = []
    for bench_input in selected:
        print(f"[bench] {bench_input.name}: generating (cached after the first run) ...", file=sys.stderr, flush=True)
        path = inputs.ensure(bench_input)
        results.extend(_run_input(bench_input, path, variants, repeat, args))
    print("[bench] cold start of the handlers ...", file=sys.stderr, flush=True)
    cold = cold_start.run(repeat)
    print("[bench] delivery: renditions from the pyramid TIFF ...", file=sys.stderr, flush=True)
    rendered = delivery.run(quick=args.quick)
    print("[bench] smart crop: a pyramid level against smartcrop on the master ...", file=sys.stderr, flush=True)
    cropped = smart_crop.run(quick=args.quick)
    print("[bench] transcoding: openips' PyAV transcoder against bare PyAV ...", file=sys.stderr, flush=True)
    transcoded = transcode.run(quick=args.quick)
    report = render(results, selected, repeat=repeat, quick=args.quick, pillow_cap=args.pillow_cap_gib,
                    elapsed=time.monotonic() - started, load=(load_before, os.getloadavg()[0]), cold=cold,
                    delivered=rendered, transcoded=transcoded, cropped=cropped)
    print(report, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"[bench] written to {args.out}", file=sys.stderr)
    return 0


def _run_input(bench_input: inputs.BenchInput, path: Path, variants: list[str], repeat: int,
               args: argparse.Namespace) -> list[Result]:
    """1 warm-up then ``repeat`` rounds, variants interleaved within a round so drift hits all alike."""
    margins = ",".join(str(m) for m in crop_margins(bench_input.width, bench_input.height))
    cmyk_profile = str(inputs.cmyk_profile())
    results = {v: Result(bench_input.name, v) for v in variants}
    commands: dict[str, tuple[list[str], Path]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-", dir=inputs.CACHE_DIR) as out_dir:
        for variant in variants:
            dst = Path(out_dir) / f"{variant}.tif"
            command = [sys.executable, "-m", "bench.child", variant, str(path), str(dst), "--crop", margins]
            if variant == "pillow":
                command += ["--cmyk-profile", cmyk_profile]
                if bench_input.huge and args.pillow_cap_gib > 0:
                    command += ["--mem-cap-gib", str(args.pillow_cap_gib)]
                    results[variant].note = f"RLIMIT_AS {args.pillow_cap_gib:g} GiB"
            commands[variant] = (command, dst)
        for round_number in range(repeat + 1):
            for variant in variants:
                result = results[variant]
                if result.failure is not None:
                    continue  # a failure repeats identically; once is enough
                label = "warm-up" if round_number == 0 else f"{round_number}/{repeat}"
                print(f"[bench] {bench_input.name} {variant} {label}", file=sys.stderr, flush=True)
                command, dst = commands[variant]
                sample = measure(command, timeout=args.timeout)
                dst.unlink(missing_ok=True)
                if round_number > 0 or not sample.ok:
                    result.samples.append(sample)
    return list(results.values())


def measure(command: list[str], *, timeout: float) -> Sample:
    """Run ``command`` once; wall and peak RSS from ``/usr/bin/time -v``, else from a getrusage wrapper."""
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "functions"), os.environ.get("PYTHONPATH")) if p)}
    # The warm-up leaves bytecode for the measured runs, so imports are not recompiled every time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as time_file:
        if shutil.which(TIME_BIN):
            full = [TIME_BIN, "-v", "-o", time_file.name, *command]
        else:
            full = [sys.executable, "-c", _RUSAGE_WRAPPER, time_file.name, *command]
        started = time.perf_counter()
        # Own session, so a timeout can end the child and everything it started, and nothing else.
        process = subprocess.Popen(full, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return Sample(wall_s=timeout, rss_mib=0.0, ok=False, error=f"timeout after {timeout:g} s")
        wall = time.perf_counter() - started
        report = time_file.read()
    wall = _parse_elapsed(report) or wall
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    rss_mib = int(match.group(1)) / 1024 if match else 0.0
    reported = _last_json(stdout)
    if process.returncode == 0 and reported.get("ok"):
        return Sample(wall_s=wall, rss_mib=rss_mib, ok=True, in_process_s=reported.get("seconds"),
                      output_bytes=reported.get("output_bytes"))
    killed = re.search(r"terminated by signal (\d+)", report)
    if process.returncode == FAILED_EXIT and "error" in reported:
        error = reported["error"]
    elif killed:
        error = f"killed by signal {killed.group(1)}" + (" (out of memory?)" if killed.group(1) == "9" else "")
    else:
        tail = [line for line in stderr.splitlines() if line.strip()]
        error = f"exit {process.returncode}: {tail[-1] if tail else 'no output'}"
    return Sample(wall_s=wall, rss_mib=rss_mib, ok=False, in_process_s=reported.get("seconds"), error=error)


# Stand-in for /usr/bin/time: its own RUSAGE_CHILDREN covers exactly the one child it waits for.
_RUSAGE_WRAPPER = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
elapsed = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    report.write(f"Elapsed (wall clock) time (h:mm:ss or m:ss): 0:{elapsed:.2f}\\n")
    report.write(f"Maximum resident set size (kbytes): {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
    if code < 0:
        report.write(f"Command terminated by signal {-code}\\n")
sys.exit(code if code >= 0 else 128 - code)
"""


def _parse_elapsed(report: str) -> float | None:
    match = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", report)
    if not match:
        return None
    seconds = 0.0
    for part in match.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return {}
    return {}


def render(results: list[Result], selected: list[inputs.BenchInput], *, repeat: int, quick: bool,
           pillow_cap: float, elapsed: float, load: tuple[float, float] = (0.0, 0.0),
           cold: list[cold_start.ColdStart] | None = None, delivered: delivery.DeliveryRun | None = None,
           transcoded: transcode.TranscodeRun | None = None, cropped: list[smart_crop.Timing] | None = None) -> str:
    """The markdown report: context, the table, the notes on Pillow, the targets."""
    by_key = {(r.input_name, r.variant): r for r in results}
    lines = ["# openips benchmark", ""]
    lines += [f"- {line}" for line in _context(repeat, quick, elapsed, load)]
    lines += ["", "Inputs (generated by bench/inputs.py, cached in bench/.cache/):", ""]
    lines += [f"- `{i.name}`: {i.description}, {i.width}×{i.height}, {_file_mb(i):.1f} MB" for i in selected]
    lines += ["", "| input | variant | wall s (median) | in-process s | peak RSS MiB | output MB "
              "| wall ÷ libvips | RSS ÷ libvips | wall ÷ Pillow | RSS ÷ Pillow |",
              "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for bench_input in selected:
        libvips = by_key.get((bench_input.name, "libvips"))
        pillow = by_key.get((bench_input.name, "pillow"))
        for result in (r for r in results if r.input_name == bench_input.name):
            name = bench_input.name
            if not result.ok:
                failure = result.failure
                what = f"failed: {failure.error}" if failure else "not run"
                if result.note:
                    what += f" ({result.note}"
                    what += f", peak RSS {failure.rss_mib:.0f} MiB)" if failure and failure.rss_mib else ")"
                lines.append(f"| {name} | {result.variant} | {what} | | | | | | | |")
                continue
            lines.append(
                f"| {name} | {result.variant} | {result.wall:.2f} | {result.in_process:.2f} | {result.rss:.0f} "
                f"| {result.output_mb:.1f} | {_ratio(result, libvips, 'wall')} | {_ratio(result, libvips, 'rss')} "
                f"| {_ratio(result, pillow, 'wall')} | {_ratio(result, pillow, 'rss')} |"
            )
    lines += ["", "Notes:", ""] + [f"- {note}" for note in _notes(pillow_cap)]
    lines += ["", "## Targets", ""]
    if quick:
        lines += ["Quick run: the targets are defined on the full inputs; on these small ones the fixed start-up "
                  "cost dominates, so the lines below are no verdict.", ""]
    lines += [f"- {line}" for line in targets(by_key, selected)]
    if cold:
        lines += [""] + cold_start.render(cold)
    if delivered:
        lines += [""] + delivery.render_report(delivered)
    if cropped:
        lines += [""] + smart_crop.render_report(cropped)
    if transcoded:
        lines += [""] + transcode.render_report(transcoded)
    return "\n".join(lines) + "\n"


def _file_mb(bench_input: inputs.BenchInput) -> float:
    return bench_input.path.stat().st_size / 1e6 if bench_input.path.exists() else 0.0


def _ratio(result: Result, reference: Result | None, what: str) -> str:
    if reference is None or not reference.ok or reference is result:
        return "—" if reference is not result else "1.00"
    mine, theirs = (result.wall, reference.wall) if what == "wall" else (result.rss, reference.rss)
    return f"{mine / theirs:.2f}" if theirs else "—"


def _context(repeat: int, quick: bool, elapsed: float, load: tuple[float, float]) -> list[str]:
    import PIL
    import pyvips

    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    temporary = sorted(p.name for p in STEPS_DIR.glob("*.py") if "TEMPORARY" in p.read_text()[:200])
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return [
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, openips {commit}, "
        f"{'quick run, ' if quick else ''}total {elapsed:.0f} s, 1-min load average {load[0]:.2f} at start and "
        f"{load[1]:.2f} at the end (the benchmark itself adds up to 2; more means other work skewed the run)",
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}, "
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, Pillow {PIL.__version__}",
        f"method: each cell is a fresh `python -m bench.child` process; 1 warm-up (discarded) + median of {repeat}, "
        "variants interleaved; wall and peak RSS of the whole process from `/usr/bin/time -v` "
        f"(in-process s = the work alone, imports excluded); env {' '.join(f'{k}={v}' for k, v in CHILD_ENV.items())}",
        "openips steps still TEMPORARY pass-throughs: " + (", ".join(temporary) if temporary else "none"),
    ]


def _notes(pillow_cap: float) -> list[str]:
    return [
        "Operations in all three: trim 2 % per edge, colour Default (CMYK without profile → sRGB with "
        "libvips' built-in CMYK profile), unsharp mask amount 1.75 / radius 2 / threshold 2 per channel, "
        "pyramid TIFF (JPEG Q85 opaque 8-bit, else deflate).",
        "Pillow cannot write tiled TIFF: it writes a multi-page TIFF of strips (full resolution, then reduce(2) "
        "levels), with RGB JPEG strips (no YCbCr chroma subsampling, hence its larger output).",
        "Pillow has no 16-bit RGB mode: it decodes the 16-bit TIFF to 8 bits and writes 8-bit deflate "
        "(less work than the 16-bit output of the other two).",
        "Pillow decodes the whole image before it crops; libvips streams (sequential access).",
        f"Pillow on the 30000×30000 input runs under RLIMIT_AS {pillow_cap:g} GiB "
        "(`--pillow-cap-gib`, 0 = uncapped); its raw RGB raster alone is 2.5 GiB." if pillow_cap > 0
        else "Pillow on the 30000×30000 input ran uncapped.",
    ]


def targets(by_key: dict[tuple[str, str], Result], selected: list[inputs.BenchInput]) -> list[str]:
    """One met / not met line per target, with its numbers."""
    lines: list[str] = []
    pairs = [(i.name, by_key.get((i.name, "openips")), by_key.get((i.name, "libvips"))) for i in selected]
    pairs = [(n, o, v) for n, o, v in pairs if o is not None and v is not None and o.ok and v.ok]
    for label, attr in (("whole process", "wall"), ("in-process, as a warm Lambda", "in_process")):
        if not pairs:
            lines.append(f"openips ≤ {TARGET_VS_LIBVIPS}× bare libvips ({label}): not measured")
            continue
        ratios = [(n, getattr(o, attr) / getattr(v, attr)) for n, o, v in pairs if getattr(v, attr)]
        worst = max(r for _, r in ratios)
        detail = ", ".join(f"{n} {r:.2f}×" for n, r in ratios)
        lines.append(f"openips ≤ {TARGET_VS_LIBVIPS}× bare libvips wall ({label}): "
                     f"**{'met' if worst <= TARGET_VS_LIBVIPS else 'not met'}** (worst {worst:.2f}×; {detail})")
    bare = by_key.get(("jpeg-24mp", "libvips"))
    openips, pillow = by_key.get(("jpeg-24mp", "openips")), by_key.get(("jpeg-24mp", "pillow"))
    if openips is not None and bare is not None and openips.ok and bare.ok:
        ratio = openips.wall / bare.wall
        lines.append(f"24 MP: openips ≤ {TARGET_24MP_WHOLE_PROCESS}× bare libvips, whole process (imports "
                     f"included): **{'met' if ratio <= TARGET_24MP_WHOLE_PROCESS else 'not met'}** ({ratio:.2f}×)")
    if openips is None or pillow is None or not openips.ok or not pillow.ok:
        lines.append(f"24 MP: ≥ {TARGET_VS_PILLOW:g}× faster than Pillow and ≤ ⅓ of its peak RSS: not measured")
    else:
        speedup, share = pillow.wall / openips.wall, openips.rss / pillow.rss
        verdict = "met" if speedup >= TARGET_VS_PILLOW else "not met"
        lines.append(f"24 MP: ≥ {TARGET_VS_PILLOW:g}× faster than Pillow: **{verdict}**"
                     f" ({pillow.wall:.2f} s / {openips.wall:.2f} s = {speedup:.2f}×; "
                     f"in-process {pillow.in_process / openips.in_process:.2f}×)")
        lines.append(f"24 MP: peak RSS ≤ ⅓ of Pillow's: **{'met' if share <= 1 / 3 else 'not met'}**"
                     f" ({openips.rss:.0f} MiB / {pillow.rss:.0f} MiB = {share:.2f})")
    huge = next((i for i in selected if i.huge), None)
    result = by_key.get((huge.name, "openips")) if huge else None
    if result is None:
        lines.append(f"30000×30000 completes with peak RSS < {TARGET_HUGE_RSS_MIB:.0f} MiB: not measured")
    elif not result.ok:
        lines.append(f"30000×30000 completes with peak RSS < {TARGET_HUGE_RSS_MIB:.0f} MiB: **not met** "
                     f"({result.failure.error if result.failure else 'not run'})")
    else:
        met = result.rss < TARGET_HUGE_RSS_MIB
        pillow_huge = by_key.get((huge.name, "pillow")) if huge else None
        pillow_text = ""
        if pillow_huge is not None:
            pillow_text = (f"; Pillow {pillow_huge.rss:.0f} MiB" if pillow_huge.ok else
                           f"; Pillow failed: {pillow_huge.failure.error if pillow_huge.failure else 'not run'}"
                           + (f" ({pillow_huge.note})" if pillow_huge.note else ""))
        lines.append(f"30000×30000 completes with peak RSS < {TARGET_HUGE_RSS_MIB:.0f} MiB: "
                     f"**{'met' if met else 'not met'}** "
                     f"(openips {result.rss:.0f} MiB, {result.wall:.1f} s{pillow_text})")
    return lines


if __name__ == "__main__":
    sys.exit(main())
