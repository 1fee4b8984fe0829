"""Smoke test of the benchmark harness: it runs and reports; performance is never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_runs_all_three_variants_and_exits_0(tmp_path: Path) -> None:
    # Given the quick input set and a report path outside bench/results
    report = tmp_path / "quick.md"

    # When the harness runs once per cell
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--repeat", "1", "--out", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )

    # Then it exits 0 and prints a table row per variant and input, with no failed cell
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| jpeg-") or line.startswith("| png-")]
    assert {row.split("|")[2].strip() for row in rows} == {"openips", "libvips", "pillow"}
    assert len(rows) == 6
    assert not [row for row in rows if "failed" in row], rows
    assert "## Targets" in done.stdout
    # and the cold start of each layer-free handler, beside its references
    cold = [line for line in done.stdout.splitlines() if line.startswith("| ") and "`" in line and "import" not in line]
    assert {line.split("`")[1] for line in cold} >= {"openips.handlers.api", "boto3", "pass"}
    assert "importing the API handler in at most 250 ms" in done.stdout
    # and the delivery section: every rendition on the pyramid and on bare pyvips, with the bytes read
    delivery = [line for line in done.stdout.splitlines() if line.startswith(("| 256 px", "| 1024 px", "| 2000 px"))]
    assert {(row.split("|")[1].strip(), row.split("|")[2].strip()) for row in delivery} == {
        (case, variant) for case in ("256 px", "1024 px", "2000 px crop") for variant in ("pyramid", "pyvips")}
    assert not [row for row in delivery if "failed" in row], delivery
    assert all("KiB" in row.split("|")[6] or "MiB" in row.split("|")[6] for row in delivery)
    # and the transcoding section: openips' transcoder beside bare PyAV, in the same run
    assert "## Transcoding" in done.stdout and "| openips |" in done.stdout and "| pyav |" in done.stdout
    # and the smart crop section: three sizes, openips beside bare pyvips
    crops = [line for line in done.stdout.splitlines() if line.startswith("| ") and " MP) | " in line]
    assert sorted(row.split("|")[2].strip() for row in crops) == ["openips"] * 3 + ["pyvips"] * 3
    assert report.read_text() == done.stdout
