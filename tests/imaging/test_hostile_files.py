"""Hostile rasters and PDFs end in one FileRejectedError naming the problem, before any costly decode:
TIFFs cut off, lying about a strip, chained 4,000 directories deep or in a loop; a progressive JPEG
header claiming 31000×31000; PDFs whose page tree lists itself."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging import optimize as optimize_module
from openips.imaging import tiff_layout, vips
from openips.imaging.optimize import optimize
from openips.imaging.probe import MAX_JPEG_COEFFICIENT_BYTES, jpeg_coefficient_bytes, probe
from openips.models.errors import CorruptImageError, FileRejectedError, ImageTooLargeError
from tests.imaging.hostile_files import (
    Page,
    chained_tiff,
    looping_tiff,
    parent_listing_pdf,
    progressive_jpeg_header,
    self_listing_pdf,
    strip_beyond_eof_tiff,
    tiff_bytes,
    truncated_tiff,
)

MAX_PIXELS = 1_000_000_000


@pytest.fixture
def opened_pages(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The ``page`` of every libvips open, in order (None: page 1)."""
    calls: list[int | None] = []
    real = vips.open_image

    def counting(path: str, loader: str, *, page: int | None = None) -> vips.Image:
        calls.append(page)
        return real(path, loader, page=page)

    monkeypatch.setattr(vips, "open_image", counting)
    return calls


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ---- TIFF -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["<", ">"])
def test_a_whole_tiff_with_its_directory_first_still_goes_through(tmp_path: Path, order: str) -> None:
    path = write(tmp_path, "ok.tif", tiff_bytes([Page(200, 100, rows_per_strip=10, shade=77)], order=order))
    result = optimize(path, str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS)
    assert (result.info.width, result.info.height, result.info.pages, result.warnings) == (200, 100, 1, [])


@pytest.mark.parametrize(("data", "where"), [
    (truncated_tiff(), "strip 6 of 10 of its 200×100 image lies at bytes 30220–36219, beyond the end of the file "
                       "(30220 bytes)"),
    (strip_beyond_eof_tiff(), "strip 1 of 10 of its 200×100 image lies at bytes 1000000–1005999, beyond the end "
                              "of the file (60220 bytes)"),
])
def test_a_tiff_whose_pixels_lie_past_its_end_is_refused_before_decoding(
        tmp_path: Path, opened_pages: list[int | None], data: bytes, where: str) -> None:
    # Before: an asset whose missing strips were black.
    path = write(tmp_path, "cut.tif", data)
    with pytest.raises(CorruptImageError) as raised:
        optimize(path, str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS)
    assert raised.value.message.startswith("the TIFF is cut off or damaged: ") and where in raised.value.message
    assert "part of the image is missing" in raised.value.message
    assert opened_pages == [] and not (tmp_path / "out.tif").exists()


def _array_at(data: bytes, tag: int) -> tuple[int, int]:
    """(offset, count) of ``tag``'s values (LONGs) in a little-endian TIFF written by libvips."""
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        found, _, count, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * entry)
        if found == tag:
            return value, count
    raise AssertionError(f"no tag {tag}")


def test_a_tiled_tiff_with_a_tile_past_its_end_is_refused(tmp_path: Path) -> None:
    data = bytearray(pyvips.Image.black(512, 512, bands=3).tiffsave_buffer(
        tile=True, tile_width=128, tile_height=128, compression="none"))
    layout = tiff_layout.read_layout(write(tmp_path, "whole.tif", bytes(data)))
    assert [(d.width, d.height) for d in layout.directories] == [(512, 512)]
    at, count = _array_at(data, 324)  # TileOffsets: the last of the 16 tiles 100 bytes past the end
    struct.pack_into("<I", data, at + 4 * (count - 1), len(data) + 100)
    with pytest.raises(CorruptImageError, match=r"tile 16 of 16 of its 512×512 image lies at bytes \d+"):
        tiff_layout.read_layout(write(tmp_path, "far.tif", bytes(data)))


def test_damage_only_decoding_finds_is_refused_too(tmp_path: Path) -> None:
    # A deflate strip inside the file but corrupt: libtiff's error fails the load (fail_on "error").
    data = bytearray(pyvips.Image.xyz(400, 300)[0].cast("uchar").tiffsave_buffer(compression="deflate"))
    at, count = _array_at(data, 273)  # StripOffsets
    if count == 1:
        strip = at  # one strip: the value is the offset itself
    else:
        strip = struct.unpack_from("<I", data, at + 4 * (count // 2))[0]
    data[strip:strip + 2] = b"\xff\xff"  # not a zlib header
    with pytest.raises(CorruptImageError, match="cannot decode the tiff image"):
        optimize(write(tmp_path, "bad.tif", bytes(data)), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS)


def test_4000_chained_directories_are_read_once_each_up_to_the_cap(
        tmp_path: Path, opened_pages: list[int | None]) -> None:
    # Before: each 1×1 page was opened as a pyramid level from the start of the chain (137 s).
    path = write(tmp_path, "chain.tif", chained_tiff(4000))
    layout = tiff_layout.read_layout(path)
    assert (len(layout.directories), layout.more, layout.is_pyramid) == (tiff_layout.MAX_DIRECTORIES, True, False)

    result = optimize(path, str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS)
    assert (result.info.pages, result.info.more_pages) == (64, True)
    assert result.warnings == ["multi-page file (more than 64 pages): only page 1 was processed"]
    assert all(page is None for page in opened_pages)  # no page but the first is ever opened


def test_a_directory_chain_that_loops_is_refused(tmp_path: Path, opened_pages: list[int | None]) -> None:
    with pytest.raises(CorruptImageError) as raised:
        probe(write(tmp_path, "loop.tif", looping_tiff(3)), max_pixels=MAX_PIXELS)
    assert raised.value.message == ("the TIFF is damaged: its chain of directories (pages) loops back on itself "
                                    "after 3 directories")
    assert opened_pages == []
    # A directory pointing at itself is the shortest loop.
    with pytest.raises(CorruptImageError, match="loops back on itself after 1 directory$"):
        probe(write(tmp_path, "self.tif", tiff_bytes([Page(8, 8, next_ifd=8)])), max_pixels=MAX_PIXELS)


def test_pyramids_are_one_page_and_other_chains_are_pages(tmp_path: Path, opened_pages: list[int | None]) -> None:
    image = pyvips.Image.black(600, 400, bands=3)
    for bigtiff in (False, True):
        path = str(tmp_path / f"pyramid-{bigtiff}.tif")
        image.tiffsave(path, tile=True, pyramid=True, tile_width=128, tile_height=128, bigtiff=bigtiff)
        assert probe(path, max_pixels=MAX_PIXELS).pages == 1
    same_size = write(tmp_path, "pages.tif", tiff_bytes([Page(64, 48), Page(64, 48), Page(32, 24)], order=">"))
    assert probe(same_size, max_pixels=MAX_PIXELS).pages == 3
    ones = write(tmp_path, "ones.tif", tiff_bytes([Page(2, 2), Page(1, 1), Page(1, 1)]))
    assert probe(ones, max_pixels=MAX_PIXELS).pages == 3  # 1×1 after 1×1 is no reduction
    assert all(page is None for page in opened_pages)


def test_broken_directories_first_refuse_the_file_later_end_the_chain(tmp_path: Path) -> None:
    data = bytearray(tiff_bytes([Page(8, 8), Page(4, 4)]))
    for first, message in ((10_000_000, "its first directory (at byte 10000000) lies outside the file"),
                           (0, "it has no image directory")):
        struct.pack_into("<I", data, 4, first)
        with pytest.raises(CorruptImageError, match=re.escape(message)):
            tiff_layout.read_layout(write(tmp_path, "bad.tif", bytes(data)))
    # Page 1 whole, page 2's directory claiming 70,000 entries: the chain ends at page 1, as in libtiff.
    data = bytearray(tiff_bytes([Page(8, 8), Page(4, 4)]))
    second = struct.unpack_from("<I", data, 8 + 2 + 12 * 10)[0]
    struct.pack_into("<H", data, second, 65535)
    layout = tiff_layout.read_layout(write(tmp_path, "later.tif", bytes(data)))
    assert [(d.width, d.height) for d in layout.directories] == [(8, 8)] and not layout.more
    with pytest.raises(FileRejectedError):  # and libvips' own check of the header stays in place
        probe(write(tmp_path, "head.tif", b"II*\x00" + bytes(4)), max_pixels=MAX_PIXELS)


# ---- progressive JPEG -----------------------------------------------------------------------------

def test_a_progressive_jpeg_too_big_to_buffer_is_refused_from_its_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: 2.8 GB and 8 s of libjpeg buffering before the refusal.
    decoded: list[object] = []
    monkeypatch.setattr(optimize_module, "save_pyramid_tiff", lambda *a, **k: decoded.append(a))
    path = write(tmp_path, "bomb.jpg", progressive_jpeg_header(31000, 31000))
    assert len(progressive_jpeg_header()) < 1024 and 31000 * 31000 < MAX_PIXELS
    with pytest.raises(ImageTooLargeError) as raised:
        optimize(path, str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS)
    needed = jpeg_coefficient_bytes(31000, 31000, 3, subsampled=True) // 1024**2
    assert raised.value.code == "image.jpeg_decode_memory"
    assert raised.value.message == (
        f"progressive JPEG of 31000×31000 needs about {needed} MiB to decode (a progressive JPEG is held whole in "
        "memory); the limit is 512 MiB; save it as a baseline (non-progressive) JPEG")
    assert 2700 < needed < 2800  # what libjpeg really took
    assert decoded == []


def test_progressive_jpegs_within_the_bound_and_baseline_headers_pass(tmp_path: Path) -> None:
    small = pyvips.Image.black(300, 200, bands=3).copy(interpretation="srgb").jpegsave_buffer(interlace=True)
    assert probe(write(tmp_path, "small.jpg", small), max_pixels=MAX_PIXELS).width == 300
    # The same huge header as a baseline (SOF0) JPEG: libjpeg streams those, so the check lets it by.
    baseline = progressive_jpeg_header(31000, 31000).replace(b"\xff\xc2", b"\xff\xc0", 1)
    assert probe(write(tmp_path, "baseline.jpg", baseline), max_pixels=MAX_PIXELS).width == 31000
    # Just under and just over the bound (4:2:0: 3 bytes a pixel).
    side = int((MAX_JPEG_COEFFICIENT_BYTES / 3) ** 0.5) // 16 * 16
    assert jpeg_coefficient_bytes(side, side, 3, subsampled=True) <= MAX_JPEG_COEFFICIENT_BYTES
    probe(write(tmp_path, "under.jpg", progressive_jpeg_header(side, side)), max_pixels=MAX_PIXELS)
    with pytest.raises(ImageTooLargeError):
        probe(write(tmp_path, "over.jpg", progressive_jpeg_header(side + 64, side + 64)), max_pixels=MAX_PIXELS)


def test_coefficient_bytes_follow_libjpeg_blocks() -> None:
    assert jpeg_coefficient_bytes(8, 8, 1, subsampled=False) == 128
    assert jpeg_coefficient_bytes(9, 8, 1, subsampled=False) == 256  # a partial block is a block
    assert jpeg_coefficient_bytes(16, 16, 3, subsampled=True) == 128 * (4 + 2)
    assert jpeg_coefficient_bytes(16, 16, 3, subsampled=False) == 128 * 12
    assert MAX_JPEG_COEFFICIENT_BYTES == 512 * 1024**2


# ---- PDF ------------------------------------------------------------------------------------------

pdfium = pytest.importorskip("pypdfium2")


@pytest.mark.parametrize(("data", "page"), [(self_listing_pdf(), 2), (parent_listing_pdf(), 1)])
def test_a_page_tree_that_lists_itself_is_a_damaged_pdf(tmp_path: Path, data: bytes, page: int) -> None:
    from openips.imaging import pdf

    with pytest.raises(pdf.PdfDamagedError) as raised:
        with pdf.open_document(write(tmp_path, "tree.pdf", data)):
            pass
    assert raised.value.message == (
        f"the PDF is damaged: its page tree declares 2 pages, but page {page} cannot be found in it "
        "(a page list that contains itself, or a wrong page count)")


def test_no_pdfium_error_leaves_the_pdf_module(tmp_path: Path) -> None:
    from openips.imaging import pdf
    from tests.pdf_fixtures import handmade_pdf

    with pdf.open_document(write(tmp_path, "one.pdf", handmade_pdf())) as document:
        for call in (lambda: document.page_size(5), lambda: document.words(5),
                     lambda: document.render(5, str(tmp_path / "p.tif"), max_pixels=MAX_PIXELS)):
            with pytest.raises(pdf.PageRefusedError, match="page 6"):
                call()
