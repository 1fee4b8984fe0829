"""Sample uploads made on the fly (no binary fixtures in git): varied on purpose."""

from __future__ import annotations

from pathlib import Path

import pyvips


def _scene(width: int, height: int) -> pyvips.Image:
    """A product-shot-like picture: a gradient backdrop with a disc and a bar."""
    x = pyvips.Image.xyz(width, height)
    backdrop = (x[0] / width * 120 + 100).bandjoin([x[1] / height * 80 + 120, 210]).cast("uchar")
    cx, cy, r = width / 2, height / 2, min(width, height) / 3
    disc = (((x[0] - cx) ** 2 + (x[1] - cy) ** 2) < r * r).ifthenelse([200, 40, 40], backdrop)
    bar = ((x[1] > height * 0.8) & (x[1] < height * 0.85)).ifthenelse([30, 30, 30], disc)
    return bar.cast("uchar").copy(interpretation="srgb")


def write_samples(folder: Path) -> dict[str, Path]:
    """Write the demo set; returns {relative upload path: file}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def put(rel: str, data: bytes) -> None:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[rel] = path

    scene = _scene(2400, 1600)
    put("shoes/red-runner.jpg", scene.jpegsave_buffer(Q=88))
    logo = _scene(600, 600)
    alpha = ((pyvips.Image.xyz(600, 600)[0] - 300) ** 2 + (pyvips.Image.xyz(600, 600)[1] - 300) ** 2 < 250 ** 2)
    put("brand/logo.png", logo.bandjoin(alpha.cast("uchar")).copy(interpretation="srgb").pngsave_buffer())
    cmyk = _scene(1200, 900).icc_transform("cmyk", input_profile="srgb")
    put("print/catalog-cover.jpg", cmyk.jpegsave_buffer(Q=85, keep="none"))
    good = scene.jpegsave_buffer(Q=70)
    put("shoes/broken.jpg", good[: len(good) // 4])
    return files
