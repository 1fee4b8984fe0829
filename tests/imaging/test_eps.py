"""imaging.eps: DOS EPS header checks, TIFF preview extraction, and what postScriptOptions do to it."""

from __future__ import annotations

import struct

import pytest

from openips.imaging import eps
from openips.imaging.optimize import optimize
from openips.models.errors import CorruptImageError, ImageTooLargeError, UnsupportedFormatError
from tests.eps_files import HEADER, bomb_tiff, dos_eps, postscript, tiff_preview

pyvips = pytest.importorskip("pyvips")
MAX = 10_000_000


def write(tmp_path, data: bytes, name: str = "file.eps") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_detects_by_content(tmp_path):
    assert eps.postscript_kind(write(tmp_path, dos_eps())) == "dos-eps"
    assert eps.postscript_kind(write(tmp_path, postscript())) == "postscript"
    assert eps.postscript_kind(write(tmp_path, b"%PDF-1.7\n")) is None
    assert eps.postscript_kind(write(tmp_path, b"\xc5\xd0")) is None


def test_dos_eps_sections_and_bounding_box(tmp_path):
    ps, tiff = postscript(144, 72, hires=True), tiff_preview()
    info = eps.read_eps(write(tmp_path, dos_eps(ps, tiff, wmf=b"WMFDATA")))
    assert info.kind == "dos-eps" and info.label == "DOS EPS (TIFF and WMF preview)"
    assert info.postscript == eps.Section(HEADER, len(ps))
    assert info.wmf == eps.Section(HEADER + len(ps), 7)
    assert info.tiff == eps.Section(HEADER + len(ps) + 7, len(tiff))
    assert (info.bounding_box.width, info.bounding_box.height) == (144, 72)
    out = tmp_path / "preview.tif"
    eps.extract_tiff_preview(write(tmp_path, dos_eps(ps, tiff, wmf=b"WMFDATA")), info, str(out))
    assert out.read_bytes() == tiff


def test_plain_postscript_has_no_preview_and_bbox_atend(tmp_path):
    body = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: (atend)\n%%EndComments\nshowpage\n%%Trailer\n" \
           b"%%BoundingBox: 0 0 300 150\n%%EOF\n"
    info = eps.read_eps(write(tmp_path, body))
    assert info.kind == "postscript" and info.tiff is None and info.label == "PostScript"
    assert (info.bounding_box.width, info.bounding_box.height) == (300, 150)
    assert eps.read_eps(write(tmp_path, postscript(bbox=False))).bounding_box is None


@pytest.mark.parametrize(("data", "words"), [
    (b"\xc5\xd0\xd3\xc6" + b"\x00" * 10, "header is truncated (14 of 30 bytes)"),
    (dos_eps(header=(30, 10**9, 0, 0, 0, 0)), "lies outside the file"),  # length beyond EOF
    (dos_eps(header=(30, 0xFFFFFFFF, 0, 0, 0, 0)), "lies outside the file"),  # "negative" length
    (dos_eps(header=(0xFFFFFFF0, 100, 0, 0, 0, 0)), "lies outside the file"),  # offset beyond EOF
    (dos_eps(header=(4, 50, 0, 0, 0, 0)), "lies outside the file"),  # inside the header
    (dos_eps(header=(30, 0, 0, 0, 0, 0)), "PostScript section is empty"),
    (dos_eps(header=(30, 50, 0, 0, 40, 0xFFFFFFFF)), "TIFF preview (offset 40, 4294967295 bytes) lies outside"),
    (dos_eps(header=(30, 50, 0, 0, 40, 20)), "overlaps its TIFF preview"),
    (dos_eps(header=(30, 50, 60, 10, 65, 10)), "overlaps"),
    (dos_eps(ps=b"not postscript at all" * 3), "does not start with %!"),
    (dos_eps()[:200], "lies outside the file"),  # truncated inside the TIFF preview
])
def test_hostile_headers_are_refused(tmp_path, data, words):
    with pytest.raises(eps.PostScriptRefusedError) as info:
        eps.read_eps(write(tmp_path, data))
    assert words in info.value.message
    assert info.value.code == "postscript.refused"


def test_preview_length_zero_means_no_preview(tmp_path):
    ps = postscript()
    info = eps.read_eps(write(tmp_path, dos_eps(ps, tiff=None, header=(30, len(ps), 0, 0, 1234, 0))))
    assert info.tiff is None and info.label == "DOS EPS (no preview)"


def test_not_postscript_is_unsupported(tmp_path):
    with pytest.raises(UnsupportedFormatError):
        eps.read_eps(write(tmp_path, b"GIF89a...."))


def prepared(tmp_path, tiff: bytes, **kwargs) -> eps.PreparedPreview:
    src = write(tmp_path, tiff, "preview.tif")
    return eps.prepare_preview(src, str(tmp_path / "prepared.tif"), max_pixels=kwargs.pop("max_pixels", MAX),
                               **kwargs)


def box(width: float, height: float) -> eps.BoundingBox:
    return eps.BoundingBox(0, 0, width, height)


def test_preview_at_the_requested_resolution_is_used_as_it_is(tmp_path):
    # 200×100 pixels for a 96×48 pt page = 150 ppi: exactly the default resolution.
    result = prepared(tmp_path, tiff_preview(200, 100), bounding_box=box(96, 48))
    assert result.path.endswith("preview.tif") and (result.width, result.height) == (200, 100)
    assert result.warnings == []
    assert "colorspace Auto: kept RGB" in result.notes


def test_a_lower_resolution_shrinks_the_preview(tmp_path):
    result = prepared(tmp_path, tiff_preview(200, 100), resolution=75, bounding_box=box(96, 48))
    assert (result.width, result.height) == (100, 50) and result.path.endswith("prepared.tif")
    assert pyvips.Image.new_from_file(result.path).width == 100
    assert any("reduced to 100×50" in n for n in result.notes)


def test_a_higher_resolution_is_never_upscaled_and_says_so(tmp_path):
    result = prepared(tmp_path, tiff_preview(200, 100), resolution=600, bounding_box=box(96, 48))
    assert (result.width, result.height) == (200, 100)
    [warning] = result.warnings
    assert "600 ppi needs 800×400 pixels" in warning and "only 200×100 (about 150 ppi)" in warning
    assert "never upscaled" in warning


def test_no_bounding_box_keeps_the_preview_with_a_warning(tmp_path):
    result = prepared(tmp_path, tiff_preview(200, 100), resolution=300)
    [warning] = result.warnings
    assert "no usable %%BoundingBox" in warning and "300 ppi" in warning


@pytest.mark.parametrize(("colorspace", "bands", "interpretation", "icc"), [
    ("Gray", 1, "b-w", False), ("Rgb", 3, "srgb", False), ("Cmyk", 4, "cmyk", True),
])
def test_colorspace_converts_the_preview(tmp_path, colorspace, bands, interpretation, icc):
    source = tiff_preview(200, 100) if colorspace != "Rgb" else tiff_preview(200, 100, bands=1, interpretation="b-w")
    result = prepared(tmp_path, source, colorspace=colorspace, bounding_box=box(96, 48))
    image = pyvips.Image.new_from_file(result.path)
    assert (image.bands, str(image.interpretation)) == (bands, interpretation)
    assert (image.get_typeof("icc-profile-data") != 0) is icc
    assert any(f"colorspace {colorspace}: preview converted" in n for n in result.notes)


def test_alpha(tmp_path):
    flattened = prepared(tmp_path, tiff_preview(200, 100, alpha=True), bounding_box=box(96, 48))
    assert pyvips.Image.new_from_file(flattened.path).bands == 3
    kept = prepared(tmp_path, tiff_preview(200, 100, alpha=True), alpha=True, bounding_box=box(96, 48))
    assert kept.path.endswith("preview.tif") and kept.warnings == []
    opaque = prepared(tmp_path, tiff_preview(200, 100), alpha=True, bounding_box=box(96, 48))
    assert "has no transparency" in opaque.warnings[0]


def test_a_preview_bomb_is_refused_from_its_header(tmp_path):
    with pytest.raises(ImageTooLargeError) as info:
        prepared(tmp_path, bomb_tiff(), bounding_box=box(96, 48))
    assert "TIFF preview is too large" in info.value.message and "10000000000 pixels" in info.value.message


@pytest.mark.parametrize(("data", "words"), [
    (b"this is not a tiff at all, just bytes", "TIFF preview cannot be read"),
    (b"\xff\xd8\xff" + b"\x00" * 40, "TIFF preview cannot be read"),
])
def test_a_corrupt_preview_is_refused(tmp_path, data, words):
    with pytest.raises(CorruptImageError) as info:
        prepared(tmp_path, data)
    assert words in info.value.message


def test_a_preview_of_another_format_is_refused(tmp_path):
    png = pyvips.Image.black(20, 10).cast("uchar").pngsave_buffer()
    with pytest.raises(CorruptImageError) as info:
        prepared(tmp_path, png)
    assert "not a TIFF (it holds png data)" in info.value.message


def test_a_truncated_preview_is_refused(tmp_path):
    whole = tiff_preview(400, 300)
    with pytest.raises(CorruptImageError):  # libvips writes the IFD last: cut, it is no TIFF at all
        prepared(tmp_path, whole[: len(whole) // 2])
    # Header intact, pixel data cut: the pipeline's sequential decode refuses it.
    image = pyvips.Image.black(400, 300, bands=3).cast("uchar") + 77
    head_first = image.cast("uchar").tiffsave_buffer(compression="deflate", tile=False)
    src = write(tmp_path, head_first[: len(head_first) // 2], "cut.tif")
    with pytest.raises((CorruptImageError, UnsupportedFormatError)):
        optimize(src, str(tmp_path / "out.tif"), max_pixels=MAX)


def test_header_numbers_are_unsigned_little_endian(tmp_path):
    data = dos_eps()
    assert struct.unpack_from("<I", data, 4)[0] == HEADER
