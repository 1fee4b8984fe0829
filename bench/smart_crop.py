"""Smart crop: ``imaging.smart_crop.smart_crops`` (a small pyramid level) against bare pyvips ``smartcrop`` on the master.

Three sizes of the bench's synthetic photo (``bench/inputs.py``) are written as pyramid TIFFs by the
project's writer; then, in this process, each variant makes the same three crops (1:1, 16:9, 9:16):

* ``openips``: ``smart_crops(tiff, items)``: reads the smallest level with a 512 px side, places each
  crop by attention, scales it back and scores it;
* ``pyvips``: the master (level 0 of the same TIFF) decoded into memory once, then
  ``smartcrop(…, interesting="attention")`` for each crop, as a caller without a pyramid would.

Time per megapixel of the master, median of ``repeat`` runs after one warm-up. Reported, never judged.

    python -m bench.smart_crop [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SIZES = ((3000, 2000), (6000, 4000), (9000, 6000))  # 6, 24 and 54 MP
QUICK_SIZES = ((800, 600), (1600, 1200), (2400, 1800))
ITEMS = ((1, 1), (16, 9), (9, 16))


@dataclass
class Timing:
    size: tuple[int, int]
    variant: str
    seconds: float

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def run(quick: bool = False, repeat: int | None = None) -> list[Timing]:
    import pyvips

    from bench import inputs
    from openips.imaging.encode import save_pyramid_tiff
    from openips.imaging.smart_crop import CropItem, crop_size, smart_crops

    repeat = repeat or (1 if quick else 3)
    items = [CropItem(name=f"c{w}x{h}", width=w, height=h) for w, h in ITEMS]
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="openips-bench-crop-") as tmp:
        for width, height in (QUICK_SIZES if quick else SIZES):
            tiff = save_pyramid_tiff(inputs.photo(width, height), str(Path(tmp) / f"{width}x{height}.tif"))

            def ours() -> None:
                smart_crops(tiff, items)

            def bare() -> None:
                master = pyvips.Image.tiffload(tiff.path).copy_memory()
                for item in items:
                    cw, ch = crop_size(width, height, item.width, item.height)
                    master.smartcrop(cw, ch, interesting="attention").avg()

            for variant, call in (("openips", ours), ("pyvips", bare)):
                call()  # warm-up
                runs = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    call()
                    runs.append(time.perf_counter() - started)
                timings.append(Timing((width, height), variant, statistics.median(runs)))
    return timings


def render_report(timings: list[Timing]) -> list[str]:
    lines = ["## Smart crop", "",
             f"Three crops ({', '.join(f'{w}:{h}' for w, h in ITEMS)}) per image: `openips` reads a 512 px pyramid "
             "level (imaging/smart_crop.py), `pyvips` decodes the master and runs `smartcrop` on it.", "",
             "| image | variant | ms (median) | ms / MP | ÷ pyvips |", "|---|---|--:|--:|--:|"]
    bare = {t.size: t for t in timings if t.variant == "pyvips"}
    for t in timings:
        ratio = f"{t.seconds / bare[t.size].seconds:.2f}" if t.size in bare and bare[t.size].seconds else ""
        lines.append(f"| {t.size[0]}×{t.size[1]} ({t.megapixels:.0f} MP) | {t.variant} | {t.seconds * 1000:.0f} "
                     f"| {t.seconds * 1000 / t.megapixels:.1f} | {ratio} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smart_crop", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args(argv)
    print("\n".join(render_report(run(quick=args.quick, repeat=args.repeat))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
