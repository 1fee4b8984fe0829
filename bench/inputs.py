"""Deterministic synthetic inputs, generated with pyvips as streaming pipelines into ``bench/.cache/``."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
# Bump when the generator changes, so stale cached files are not reused.
GENERATOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class BenchInput:
    """One generated input file and how it was made."""

    name: str
    description: str
    width: int
    height: int
    suffix: str
    make: Callable[[int, int, str], None]
    quick: bool = False
    huge: bool = False

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def path(self) -> Path:
        return CACHE_DIR / f"{self.name}-{self.width}x{self.height}-g{GENERATOR_VERSION}{self.suffix}"


def photo(width: int, height: int, *, seed: int = 1) -> pyvips.Image:
    """An 8-bit sRGB 'photo': gradients, soft blotches, hard-edged shapes and sensor noise; lazy."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0].cast("float"), xy[1].cast("float")
    u, v = x / width, y / height
    base = (
        (u * 150 + 50)
        .bandjoin(v * 130 + 60)
        .bandjoin(((u * 1080).sin() * (v * 720).cos()) * 60 + 120)
    )
    # Low-frequency blotches: noise at 1/64 scale, upsampled (a tiny image, so still streaming).
    small_w, small_h = max(2, math.ceil(width / 64)), max(2, math.ceil(height / 64))
    blotch = pyvips.Image.gaussnoise(small_w, small_h, sigma=30, mean=0, seed=seed)
    blotch = blotch.resize(64, kernel="cubic").crop(0, 0, width, height)
    image = base + blotch
    # Hard-edged shapes give JPEG the edges real photos have; positions are fixed fractions.
    r = min(width, height)
    shapes = [
        ("circle", 0.25, 0.30, 0.12, [220, 40, 40]),
        ("circle", 0.70, 0.65, 0.18, [30, 90, 200]),
        ("circle", 0.55, 0.20, 0.07, [250, 220, 60]),
        ("rect", 0.10, 0.60, 0.15, [20, 140, 60]),
        ("rect", 0.80, 0.15, 0.09, [240, 240, 240]),
        ("rect", 0.40, 0.80, 0.06, [15, 15, 20]),
    ]
    for kind, fx, fy, fsize, colour in shapes:
        cx, cy, size = fx * width, fy * height, fsize * r
        if kind == "circle":
            inside = ((x - cx) ** 2 + (y - cy) ** 2) < size**2
        else:
            inside = ((x - cx).abs() < size * 1.4) & ((y - cy).abs() < size)
        # Shapes carry a shading gradient so they are not flat colour either.
        image = inside.ifthenelse(((1 - v) * 0.5 + 0.75) * colour, image)
    luma_noise = pyvips.Image.gaussnoise(width, height, sigma=7, mean=0, seed=seed + 1)
    chroma_noise = pyvips.Image.gaussnoise(width, height, sigma=2, mean=0, seed=seed + 2)
    image = image + luma_noise + chroma_noise.bandjoin([chroma_noise * -1, chroma_noise * 0.5])
    return image.cast("uchar").copy(interpretation="srgb")


def _alpha(width: int, height: int) -> pyvips.Image:
    """A feathered ellipse: opaque subject, transparent background, soft 2 % edge; lazy."""
    xy = pyvips.Image.xyz(width, height)
    u = (xy[0].cast("float") - width / 2) / (width * 0.42)
    v = (xy[1].cast("float") - height / 2) / (height * 0.42)
    distance = (u * u + v * v) ** 0.5
    return ((1 - distance) / 0.02 * 255).cast("uchar")  # cast clamps to 0..255


def _save_jpeg(width: int, height: int, path: str) -> None:
    photo(width, height).jpegsave(path, Q=90, keep="none")


def _save_cmyk_jpeg(width: int, height: int, path: str) -> None:
    # No embedded profile: that is the CMYK case colour mode Default converts to sRGB (spec §5.11).
    cmyk = photo(width, height, seed=11).icc_transform("cmyk", input_profile="srgb", intent="relative")
    cmyk.jpegsave(path, Q=90, keep="none")


def cmyk_profile() -> Path:
    """libvips' built-in CMYK profile as a file, so the Pillow variant converts with the same profile."""
    path = CACHE_DIR / f"cmyk-builtin-vips{pyvips.version(0)}.{pyvips.version(1)}.icc"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pixel = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
        path.write_bytes(pixel.icc_transform("cmyk", input_profile="srgb").get("icc-profile-data"))
    return path


def _save_tiff16(width: int, height: int, path: str) -> None:
    image = (photo(width, height, seed=21).cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    image.tiffsave(path, compression="lzw", predictor="horizontal", keep="none")


def _save_png_alpha(width: int, height: int, path: str) -> None:
    photo(width, height, seed=31).bandjoin(_alpha(width, height)).pngsave(path, compression=6, keep="none")


INPUTS: tuple[BenchInput, ...] = (
    BenchInput("jpeg-2mp", "2 MP sRGB JPEG (q90)", 1920, 1080, ".jpg", _save_jpeg, quick=True),
    BenchInput("png-alpha-small", "0.5 MP RGBA PNG", 800, 600, ".png", _save_png_alpha, quick=True),
    BenchInput("jpeg-24mp", "24 MP sRGB JPEG (q90)", 6000, 4000, ".jpg", _save_jpeg),
    BenchInput("jpeg-100mp", "100 MP sRGB JPEG (q90)", 12240, 8160, ".jpg", _save_jpeg),
    BenchInput("tiff-16bit", "24 MP 16-bit RGB TIFF (LZW)", 6000, 4000, ".tif", _save_tiff16),
    BenchInput("png-alpha", "12 MP RGBA PNG", 4000, 3000, ".png", _save_png_alpha),
    BenchInput("cmyk-jpeg", "24 MP CMYK JPEG (q90, no profile)", 6000, 4000, ".jpg", _save_cmyk_jpeg),
    BenchInput("jpeg-30k", "900 MP sRGB JPEG, 30000x30000 (q90)", 30000, 30000, ".jpg", _save_jpeg, huge=True),
)


def select(*, quick: bool, names: list[str] | None = None) -> list[BenchInput]:
    """The inputs of a run: the quick pair, the full set, or the ones named."""
    if names:
        unknown = set(names) - {i.name for i in INPUTS}
        if unknown:
            raise ValueError(f"unknown inputs: {sorted(unknown)}; known: {[i.name for i in INPUTS]}")
        return [i for i in INPUTS if i.name in names]
    return [i for i in INPUTS if i.quick == quick]


def ensure(bench_input: BenchInput) -> Path:
    """Generate ``bench_input`` into the cache unless it is already there; return its path."""
    path = bench_input.path
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    try:
        bench_input.make(bench_input.width, bench_input.height, str(partial))
        os.replace(partial, path)  # a killed run never leaves a truncated input behind
    finally:
        partial.unlink(missing_ok=True)
    return path
