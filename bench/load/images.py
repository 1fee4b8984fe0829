"""The files of the load scenarios, generated once into bench/.cache/ and reused by every run.

Both kinds come from ``bench.inputs.photo`` (gradients, blotches, hard-edged shapes and
sensor noise), so they compress like photos rather than like flat colour. A job uploads them
under names of its own (``as_uploads``): asset names are new in the company on every run,
so each file's outcome is UploadSuccess whatever content other jobs uploaded before.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from bench import inputs
from bench.load.driver import Upload

SMALL_MIN, SMALL_MAX = 64, 256
LARGE_WIDTH, LARGE_HEIGHT = 3000, 2000
SMALL_DIR = inputs.CACHE_DIR / f"load-small-g{inputs.GENERATOR_VERSION}"


def small_sources(count: int) -> list[Path]:
    """``count`` images of 64–256 px a side (seeded sizes), JPEG q85 and PNG alternately."""
    SMALL_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = SMALL_DIR / f"{index:04d}.{'png' if index % 2 else 'jpg'}"
        if not path.exists():
            rng = random.Random(index)
            image = inputs.photo(rng.randint(SMALL_MIN, SMALL_MAX), rng.randint(SMALL_MIN, SMALL_MAX),
                                 seed=rng.randint(1, 1_000_000))
            partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
            if index % 2:
                image.pngsave(str(partial), compression=6, keep="none")
            else:
                image.jpegsave(str(partial), Q=85, keep="none")
            os.replace(partial, path)  # a killed run never leaves a truncated file behind
        paths.append(path)
    return paths


def large_sources(count: int) -> list[Path]:
    """``count`` distinct 3000×2000 sRGB JPEGs (q90, about 2 MB each)."""
    paths = []
    for index in range(count):
        def make(width: int, height: int, path: str, seed: int = 1000 + index) -> None:
            inputs.photo(width, height, seed=seed).jpegsave(path, Q=90, keep="none")

        paths.append(inputs.ensure(inputs.BenchInput(f"load-6mp-{index:02d}", "6 MP sRGB JPEG (q90)",
                                                     LARGE_WIDTH, LARGE_HEIGHT, ".jpg", make)))
    return paths


def as_uploads(label: str, sources: list[Path]) -> list[Upload]:
    """The files as one job's uploads, named ``<label>-NNNN<suffix>`` (no spaces: rows start with the path)."""
    return [Upload(f"{label}-{i:04d}{path.suffix}", path, path.stat().st_size) for i, path in enumerate(sources)]
