"""Delivery: renditions cut from a pyramid TIFF (``imaging.render.render``) against bare pyvips on the master.

The asset is the 100 MP input of ``bench/inputs.py`` (``--quick``: the 2 MP one) made into the
pyramid TIFF by the project's own writer (``imaging.optimize``), once, and cached beside the inputs.
Each (variant, rendition) runs in a fresh process: one warm-up rendition, then ``n`` timed ones. The
pyramid variant reads through a ``FileRangeReader`` (a new one per rendition), so the bytes it reports
are what a rendition would fetch from S3 by ranged GETs; the reference decodes the master with
``pyvips.Image.thumbnail`` (shrink-on-load) or, for the crop, loads and crops it. Timings are
reported, never judged: nothing here fails on a number.

    python -m bench.delivery [--quick] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import inputs

ROOT = Path(__file__).resolve().parents[1]
# Bump when the pyramid writer changes in a way that matters here, so the cached pyramid is remade.
PYRAMID_VERSION = 1
# DeliveryFunction's environment in template.yaml.
CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "VIPS_CONCURRENCY": "2"}
VARIANTS = ("pyramid", "pyvips")
# (label, how: "wid" or "crop", size in pixels)
CASES = (("256 px", "wid", 256), ("1024 px", "wid", 1024), ("2000 px crop", "crop", 2000))


@dataclass
class Measured:
    """One child: a variant on one case."""

    variant: str
    case: str
    ok: bool
    latencies_ms: list[float] = field(default_factory=list)
    bytes_read: list[int] = field(default_factory=list)
    output_bytes: int = 0
    peak_rss_mib: float = 0.0
    wall_s: float = 0.0
    error: str = ""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return 1000 * len(self.latencies_ms) / sum(self.latencies_ms) if self.latencies_ms else 0.0


def master_input(quick: bool) -> inputs.BenchInput:
    return next(i for i in inputs.INPUTS if i.name == ("jpeg-2mp" if quick else "jpeg-100mp"))


def ensure_pyramid(master: inputs.BenchInput) -> tuple[Path, Path]:
    """(master, pyramid TIFF): both generated once and cached in bench/.cache/."""
    source = inputs.ensure(master)
    pyramid = inputs.CACHE_DIR / f"{source.stem}-pyramid-p{PYRAMID_VERSION}.tif"
    if not pyramid.exists():
        from openips.imaging.optimize import optimize

        partial = pyramid.with_name(f".partial-{os.getpid()}-{pyramid.name}")
        try:
            optimize(str(source), str(partial), max_pixels=10**10)
            os.replace(partial, pyramid)  # a killed run never leaves a truncated pyramid behind
        finally:
            partial.unlink(missing_ok=True)
    return source, pyramid


def _query(how: str, size: int, width: int, height: int) -> str:
    if how == "wid":
        return f"wid={size}"
    side = min(size, width, height)  # the centre, at full resolution
    return f"crop={(width - side) // 2},{(height - side) // 2},{side},{side}"


def child(variant: str, how: str, size: int, master: str, pyramid: str, n: int) -> dict:
    """One variant on one case in this process: warm-up, then ``n`` timed renditions."""
    import pyvips

    from openips.imaging.render import FileRangeReader, render
    from openips.services.delivery.modifiers import Limits, parse_modifiers

    # No operation cache: every timed rendition does its work again, and peak RSS is the rendition's, not the cache's.
    pyvips.cache_set_max(0)
    probe = pyvips.Image.new_from_file(master)
    width, height = probe.width, probe.height
    limits = Limits(max_pixels=2000 * 2000, max_modifiers=64, max_length=2048)
    request = parse_modifiers(_query(how, size, width, height), {}, width, height, limits=limits)

    def one() -> tuple[bytes, int]:
        if variant == "pyramid":
            reader = FileRangeReader(pyramid)
            rendition = render(reader, request, None, max_pixels=limits.max_pixels)
            return rendition.body, reader.bytes_read
        if how == "wid":
            image = pyvips.Image.thumbnail(master, size)
        else:
            crop = request.crop
            assert crop is not None
            image = pyvips.Image.new_from_file(master).crop(crop.x, crop.y, crop.width, crop.height)
        return image.jpegsave_buffer(Q=request.quality, keep="none"), os.path.getsize(master)

    one()  # warm-up: libvips' start, the first file open
    latencies, read = [], []
    for _ in range(n):
        started = time.perf_counter()
        body, bytes_read = one()
        latencies.append((time.perf_counter() - started) * 1000)
        read.append(bytes_read)
    return {"ok": True, "latencies_ms": latencies, "bytes_read": read, "output_bytes": len(body),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _measure(variant: str, how: str, size: int, label: str, master: Path, pyramid: Path, n: int) -> Measured:
    env = {**os.environ, **CHILD_ENV, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), str(ROOT / "functions"), os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-m", "bench.delivery", "--child", variant, how, str(size), str(master), str(pyramid),
               str(n)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = [line for line in done.stderr.splitlines() if line.strip()]
        return Measured(variant, label, False, wall_s=wall, error=tail[-1] if tail else f"exit {done.returncode}")
    reported = json.loads(lines[-1])
    return Measured(variant, label, True, reported["latencies_ms"], reported["bytes_read"], reported["output_bytes"],
                    reported["peak_rss_mib"], wall)


@dataclass
class DeliveryRun:
    master: inputs.BenchInput
    master_bytes: int
    pyramid_bytes: int
    repeat: int
    results: list[Measured]


def run(quick: bool = False, repeat: int | None = None) -> DeliveryRun:
    """Every case on both variants, each in its own process."""
    master_spec = master_input(quick)
    master, pyramid = ensure_pyramid(master_spec)
    n = repeat if repeat is not None else (3 if quick else 20)
    results = []
    for label, how, size in CASES:
        for variant in VARIANTS:
            print(f"[bench] delivery {label} {variant} ×{n}", file=sys.stderr, flush=True)
            results.append(_measure(variant, how, size, label, master, pyramid, n))
    return DeliveryRun(master_spec, master.stat().st_size, pyramid.stat().st_size, n, results)


def render_report(done: DeliveryRun) -> list[str]:
    """Markdown lines: the table and how to read it."""
    mb = 1024 * 1024
    lines = ["## Delivery (GET /is/image renditions from the pyramid TIFF)", "",
             f"Asset: {done.master.description}, {done.master.width}×{done.master.height}; master "
             f"{done.master_bytes / mb:.1f} MiB, pyramid TIFF {done.pyramid_bytes / mb:.1f} MiB. "
             f"{done.repeat} timed renditions per cell after one warm-up, each cell a fresh process "
             f"(env {' '.join(f'{k}={v}' for k, v in CHILD_ENV.items())}, libvips operation cache off).", "",
             "| rendition | variant | renditions/s | p50 ms | p95 ms | read per rendition | reply KiB "
             "| peak RSS MiB | process s | p50 ÷ pyvips |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    by_key = {(m.case, m.variant): m for m in done.results}
    for label, _, _ in CASES:
        reference = by_key.get((label, "pyvips"))
        for variant in VARIANTS:
            m = by_key.get((label, variant))
            if m is None:
                continue
            if not m.ok:
                lines.append(f"| {label} | {variant} | failed: {m.error} | | | | | | | |")
                continue
            read = statistics.median(m.bytes_read)
            read_text = f"{read / 1024:.0f} KiB" if read < mb else f"{read / mb:.1f} MiB"
            ratio = "1.00" if m is reference else (
                f"{m.percentile(0.5) / reference.percentile(0.5):.2f}" if reference and reference.ok else "—")
            lines.append(f"| {label} | {variant} | {m.per_second:.1f} | {m.percentile(0.5):.0f} | "
                         f"{m.percentile(0.95):.0f} | {read_text} | {m.output_bytes / 1024:.0f} | "
                         f"{m.peak_rss_mib:.0f} | {m.wall_s:.1f} | {ratio} |")
    lines += ["", "- pyramid: `imaging.render.render` over a `FileRangeReader` (what a rendition fetches from S3 "
              "by ranged GETs is its read column); pyvips: `thumbnail` (shrink-on-load) on the master JPEG, or "
              "load + crop for the crop, reading the whole master.",
              "- Timings are for this machine's disk (no S3 latency); on Lambda each coalesced read adds a GET's "
              "round trip (tens of ms). Benchmarks report, they never fail the build.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 2 MP asset, 3 renditions per cell")
    parser.add_argument("--repeat", type=int, help="timed renditions per cell (default 20; quick 3)")
    parser.add_argument("--child", nargs=6, metavar=("VARIANT", "HOW", "SIZE", "MASTER", "PYRAMID", "N"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        variant, how, size, master, pyramid, n = args.child
        print(json.dumps(child(variant, how, int(size), master, pyramid, int(n))))
        return 0
    print("\n".join(render_report(run(args.quick, args.repeat))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
