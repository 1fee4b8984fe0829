"""The yardstick of the 40 × 6 MP job: bare pyvips doing the same decode → pyramid TIFF, same parallelism.

A pool of as many spawned processes as the stack has workers, each running the minimal
pyvips script: sequential load, then ``tiffsave`` with the parameters of
functions/openips/imaging/encode.py (256×256 tiles, pyramid, JPEG Q85, ICC/EXIF/XMP/IPTC
kept; the constants come from bench/variants.py, which mirrors encode.py). No S3, no
DynamoDB, no queue, no HTTP: what is left of the stack's wall time over this is its overhead.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.variants import JPEG_Q, TILE


def _warm(_: int) -> None:
    import pyvips  # noqa: F401 - the import is the warm-up

    time.sleep(0.3)  # long enough that every worker of the pool gets one


def _convert(src: str, dst: str) -> None:
    import pyvips

    keep = (pyvips.enums.ForeignKeep.ICC | pyvips.enums.ForeignKeep.EXIF
            | pyvips.enums.ForeignKeep.XMP | pyvips.enums.ForeignKeep.IPTC)
    image = pyvips.Image.new_from_file(src, access="sequential")
    image.tiffsave(dst, tile=True, tile_width=TILE, tile_height=TILE, pyramid=True, compression="jpeg", Q=JPEG_Q,
                   keep=keep)


def reference_seconds(sources: list[Path], workers: int) -> float:
    """Wall seconds for ``workers`` warm processes to convert every source (process start excluded)."""
    # Spawned like the stack's workers; started and warmed before the clock, as the stack's are.
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="load-ref-") as out, \
            ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(_warm, range(workers * 2)))
        destinations = [str(Path(out) / f"{i:04d}.tif") for i in range(len(sources))]
        started = time.perf_counter()
        list(pool.map(_convert, [str(s) for s in sources], destinations))
        return time.perf_counter() - started
