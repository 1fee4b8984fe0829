"""createMask on a real JPEG carrying 16 MiB of Photoshop resources: linear work, right mask, capped walk."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging import clipping_path  # noqa: E402
from openips.imaging.clipping_path import MAX_RESOURCES, clipping_mask  # noqa: E402
from tests.imaging import clipping_fixtures as fixtures  # noqa: E402
from tests.imaging.clipping_fixtures import SliceCountingBytes  # noqa: E402

MIB = 1024 * 1024
W, H = 400, 300
RECT = fixtures.path_data([fixtures.rectangle(0.25, 0.25, 0.75, 0.75)])  # x 100..300, y 75..225
CLIP_TAIL = fixtures.clipping_tail(RECT)


@pytest.fixture(autouse=True)
def _needs_svgload(skip_if_no) -> None:  # type: ignore[no-untyped-def]
    skip_if_no("svgload_buffer")


@pytest.fixture
def counted_blocks(monkeypatch: pytest.MonkeyPatch) -> list[SliceCountingBytes]:
    """Every resource block createMask reads, as SliceCountingBytes with a budget of its own length."""
    blocks: list[SliceCountingBytes] = []
    real = clipping_path.image_resource_block

    def counted(image: pyvips.Image) -> SliceCountingBytes | None:
        block = real(image)
        if block is None:
            return None
        blocks.append(SliceCountingBytes(block, budget=len(block)))
        return blocks[-1]

    monkeypatch.setattr(clipping_path, "image_resource_block", counted)
    return blocks


def _jpeg(tmp_path: Path, irb: bytes) -> pyvips.Image:
    image = (pyvips.Image.black(W, H, bands=3) + [90, 140, 200]).cast("uchar").copy(interpretation="srgb")
    path = tmp_path / "big-irb.jpg"
    path.write_bytes(fixtures.jpeg_with_irb(image.jpegsave_buffer(Q=90), irb))
    return pyvips.Image.new_from_file(str(path), access="sequential")


def test_a_jpeg_with_16_mib_of_small_resources_gets_its_mask_in_linear_time(
        tmp_path: Path, counted_blocks: list[SliceCountingBytes]) -> None:
    # Given: 9,000 resources of 1.8 KiB in 259 APP13 segments, the clipping path last
    image = _jpeg(tmp_path, fixtures.padded_irb(16 * MIB, 1864, CLIP_TAIL))

    # When
    started = time.perf_counter()
    problems: list[str] = []
    mask = clipping_mask(image, problems)
    elapsed = time.perf_counter() - started

    # Then: the rectangle, from a block read once
    print(f"clipping_mask on a JPEG with a {len(counted_blocks[0]) / MIB:.1f} MiB IRB: {elapsed:.3f} s")
    assert problems == [] and mask is not None
    assert mask.crop(100, 75, 200, 150).min() == 255 and mask(99, 150)[0] == mask(300, 150)[0] == 0
    assert len(counted_blocks[0]) > 16 * MIB - 2000 and counted_blocks[0].copied <= len(counted_blocks[0])


def test_a_jpeg_with_16_mib_of_tiny_resources_gets_no_mask_and_a_reason(
        tmp_path: Path, counted_blocks: list[SliceCountingBytes]) -> None:
    # Given: 1.4 million 12-byte resources before the clipping path
    image = _jpeg(tmp_path, fixtures.resource(4000, b"") * (16 * MIB // 12) + CLIP_TAIL)

    # When
    started = time.perf_counter()
    problems: list[str] = []
    mask = clipping_mask(image, problems)
    print(f"clipping_mask refused a JPEG of 1.4 million resources in {time.perf_counter() - started:.3f} s")

    # Then
    assert mask is None
    assert problems == [f"createMask: the clipping path cannot be used (the Photoshop resources hold more than "
                        f"{MAX_RESOURCES} entries, where a real file has a few dozen), so no mask was made"]
