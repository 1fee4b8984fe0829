"""The renderer against pyvips doing the same operations on the full-resolution master.

Pyramids are written by the project's own writer (encode.py): lossless (deflate) ones for pixel
comparisons, JPEG ones where the delivered case matters (bytes read). The master has periodic
detail (a few pixels across at reply size), so a geometry error of a pixel shows as a large
difference, where a smooth ramp would hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.encode import save_pyramid_tiff  # noqa: E402
from openips.imaging.render import CachedReader, FileRangeReader, displayed_size, render  # noqa: E402
from openips.imaging.render_geometry import choose_level, plan, stored_rect  # noqa: E402
from openips.models.rendition import Rect, RenditionRequest, UnsharpMask  # noqa: E402
from openips.models.errors import (  # noqa: E402
    DamagedPyramidError,
    RenditionError,
    RenditionTooLargeError,
)

W, H = 1200, 900
MAX = 4_000_000


def _master(width: int = W, height: int = H) -> pyvips.Image:
    """Smooth ramps (orientation is visible) plus stripes of a 24/36 px period (position is)."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    stripes = ((x * (360 / 24)).sin() * 60 + (y * (360 / 36)).cos() * 40)  # libvips' sin takes degrees
    r = x * (150 / width) + stripes + 50
    g = y * (150 / height) + 50
    b = (x + y) * (100 / (width + height)) - stripes * 0.5 + 100
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


def _pyramid(tmp_path: Path, image: pyvips.Image, name: str = "p.tif", *, lossless: bool = True) -> Path:
    path = tmp_path / name
    save_pyramid_tiff(image, str(path), lossless=lossless)
    return path


def _decode(body: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(body, "")


def _diff(a: pyvips.Image, b: pyvips.Image) -> float:
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands)
    return (a.cast("float") - b.cast("float")).abs().avg()


def _render(path: Path, **fields: object) -> tuple[pyvips.Image, object]:
    size = fields.pop("size", (W, H))
    request = RenditionRequest(size[0], size[1], fmt=fields.pop("fmt", "png"), **fields)
    out = render(FileRangeReader(str(path)), request, max_pixels=MAX)
    return _decode(out.body), out


@pytest.fixture
def master() -> pyvips.Image:
    return _master().copy_memory()


@pytest.fixture
def pyramid(tmp_path: Path, master: pyvips.Image) -> Path:
    return _pyramid(tmp_path, master)


# --- sizes and scales -------------------------------------------------------------------------

def test_wid_alone_scales_like_resize_on_the_master(pyramid: Path, master: pyvips.Image) -> None:
    image, out = _render(pyramid, width=300)
    assert (out.width, out.height, out.content_type) == (300, 225, "image/png")
    assert out.level == 2  # 300 px needs 1200/4: level 2 (300×225), not level 0
    assert _diff(image, master.resize(0.25, kernel="lanczos3")) < 2.5


def test_hei_alone_and_scl(pyramid: Path, master: pyvips.Image) -> None:
    image, out = _render(pyramid, height=450)
    assert (out.width, out.height, out.level) == (600, 450, 1)
    assert _diff(image, master.resize(0.5, kernel="lanczos3")) < 2.5
    image, out = _render(pyramid, scale=3.0)
    assert (out.width, out.height) == (400, 300)
    assert _diff(image, master.resize(1 / 3, kernel="lanczos3")) < 2.5


def test_a_level_is_never_upsampled_when_a_larger_one_exists(pyramid: Path) -> None:
    _, out = _render(pyramid, width=301)  # level 2 is 300 wide: one pixel short
    assert out.level == 1
    levels = [(8000, 6000), (4000, 3000), (2000, 1500), (1000, 750), (500, 375), (250, 187)]
    assert choose_level(levels, plan(RenditionRequest(8000, 6000, width=250))) == 5
    assert choose_level(levels, plan(RenditionRequest(8000, 6000, width=251))) == 4
    # A crop is counted in the level's pixels: 1000 source px at 250 px out needs level 2 (250 across).
    assert choose_level(levels, plan(RenditionRequest(8000, 6000, crop=Rect(0, 0, 1000, 1000), width=250))) == 2


def test_crop_then_wid_matches_the_master_cropped(pyramid: Path, master: pyvips.Image) -> None:
    image, out = _render(pyramid, crop=Rect(101, 57, 600, 400), width=150)
    assert (out.width, out.height) == (150, 100)
    expected = master.crop(101, 57, 600, 400).resize(0.25, kernel="lanczos3")
    assert _diff(image, expected) < 3


def test_crop_at_full_size_is_exact(pyramid: Path, master: pyvips.Image) -> None:
    image, out = _render(pyramid, crop=Rect(333, 201, 250, 180))
    assert (out.width, out.height, out.level) == (250, 180, 0)
    assert _diff(image, master.crop(333, 201, 250, 180)) == 0


@pytest.mark.parametrize(("fit", "upscale", "size"), [
    ("fit", False, (200, 200)), ("constrain", False, (200, 150)), ("crop", False, (200, 200)),
    ("hfit", False, (200, 200)), ("vfit", False, (200, 200)), ("stretch", False, (200, 200)),
])
def test_fit_modes_give_is_sizes_and_master_pixels(pyramid: Path, master: pyvips.Image, fit: str,
                                                   upscale: bool, size: tuple[int, int]) -> None:
    image, out = _render(pyramid, width=200, height=200, fit=fit, background=(10, 20, 30))
    assert (out.width, out.height) == size
    white = [10, 20, 30]
    if fit in ("fit", "hfit"):  # 200×150 centred: 25 rows of bgc above and below
        scaled = master.resize(200 / 1200, kernel="lanczos3")
        expected = scaled.embed(0, 25, 200, 200, extend="background", background=white)
    elif fit == "constrain":
        expected = master.resize(200 / 1200, kernel="lanczos3")
    elif fit in ("crop", "vfit"):  # height fills: 267×200, the centre 200 columns
        scaled = master.resize(200 / 900, kernel="lanczos3")
        expected = scaled.crop((scaled.width - 200) // 2, 0, 200, 200)
    else:
        expected = master.resize(200 / 1200, vscale=200 / 900, kernel="lanczos3")
    assert _diff(image, expected) < 3
    if fit in ("fit", "hfit"):
        assert image(100, 5) == white and image(100, 195) == white


def test_wid_and_hei_without_fit_pad_like_fit(pyramid: Path) -> None:
    a, _ = _render(pyramid, width=200, height=200)
    b, _ = _render(pyramid, width=200, height=200, fit="fit")
    assert _diff(a, b) == 0
    assert a(100, 3) == [255, 255, 255]  # bgc absent: white


def test_fit_does_not_enlarge_without_its_upscale_flag(tmp_path: Path) -> None:
    small = _pyramid(tmp_path, _master(120, 90))
    image, out = _render(small, size=(120, 90), width=240, height=240, fit="fit")
    assert (out.width, out.height) == (240, 240)
    # The 120×90 image at 1:1 in the middle, bgc around it.
    assert image(10, 120) == [255, 255, 255] and image(120, 10) == [255, 255, 255]
    assert _diff(image.crop(60, 75, 120, 90), _master(120, 90)) == 0
    _, out = _render(small, size=(120, 90), width=240, height=240, fit="constrain")
    assert (out.width, out.height) == (120, 90)
    image, out = _render(small, size=(120, 90), width=240, height=240, fit="constrain", upscale=True)
    assert (out.width, out.height) == (240, 180)
    _, out = _render(small, size=(120, 90), width=240)  # no fit: IS enlarges
    assert (out.width, out.height) == (240, 180)


# --- flip, rotate, rect ----------------------------------------------------------------------

@pytest.mark.parametrize(("rotate", "flip"), [(90, None), (180, "lr"), (270, "ud"), (0, "lrud")])
def test_flip_then_rotate_and_sizes_apply_to_the_rotated_layer(pyramid: Path, master: pyvips.Image,
                                                               rotate: int, flip: str | None) -> None:
    image, out = _render(pyramid, width=225, rotate=rotate, flip=flip)
    layer = master
    if flip in ("lr", "lrud"):
        layer = layer.fliphor()
    if flip in ("ud", "lrud"):
        layer = layer.flipver()
    if rotate:
        layer = layer.rot({90: "d90", 180: "d180", 270: "d270"}[rotate])
    assert (out.width, out.height) == (225, round(layer.height * 225 / layer.width))
    assert _diff(image, layer.resize(225 / layer.width, kernel="lanczos3")) < 3


def test_rotate_90_is_clockwise(pyramid: Path, master: pyvips.Image) -> None:
    image, _ = _render(pyramid, rotate=90, scale=4.0)
    # The master's top-left corner ends top-right.
    expected = master.resize(0.25, kernel="lanczos3")(2, 2)
    got = image(image.width - 3, 2)
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) < 12


def test_rect_cuts_the_view_and_pads_outside_it(pyramid: Path) -> None:
    view, _ = _render(pyramid, width=400)
    strip, out = _render(pyramid, width=400, rect=Rect(50, 100, 200, 80))
    assert (out.width, out.height) == (200, 80)
    assert _diff(strip, view.crop(50, 100, 200, 80)) == 0
    edge, out = _render(pyramid, width=400, rect=Rect(350, 280, 100, 40), background=(0, 255, 0))
    assert (out.width, out.height) == (100, 40)
    assert _diff(edge.crop(0, 0, 50, 20), view.crop(350, 280, 50, 20)) == 0
    assert edge(75, 10) == [0, 255, 0] and edge(10, 30) == [0, 255, 0]


# --- EXIF orientation ---------------------------------------------------------------------------

def _stored_as(image: pyvips.Image, orientation: int) -> pyvips.Image:
    """``image``'s pixels as a camera stores them, tagged with ``orientation``."""
    tagged = image.copy()
    tagged.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return tagged


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_is_rendered_as_displayed(tmp_path: Path, master: pyvips.Image, orientation: int) -> None:
    stored = _stored_as(master, orientation)
    shown = stored.autorot()  # what a browser shows of the master
    path = _pyramid(tmp_path, stored, "stored.tif")
    size = (shown.width, shown.height)
    assert displayed_size(FileRangeReader(str(path)), W, H) == size

    # Crop and wid in displayed pixels, scaled from level 2 (1200 and 900 halve evenly down to it,
    # so its pixels are the upright pyramid's turned): exactly the upright master's rendition.
    crop = Rect(101, 57, 600, 400)
    image, out = _render(path, size=size, crop=crop, width=150)
    upright, reference = _render(_pyramid(tmp_path, shown, "upright.tif"), size=size, crop=crop, width=150)
    assert (out.width, out.height, out.level) == (150, 100, 2) == (reference.width, reference.height, reference.level)
    assert _diff(image, upright) == 0
    assert _diff(image, shown.crop(101, 57, 600, 400).resize(0.25, kernel="lanczos3")) < 3

    # At full size there is no resampling at all: pyvips' pixels exactly.
    image, out = _render(path, size=size, crop=Rect(333, 201, 250, 180))
    assert (out.width, out.height, out.level) == (250, 180, 0)
    assert _diff(image, shown.crop(333, 201, 250, 180)) == 0


def test_flip_rotate_and_rect_apply_to_the_displayed_image(tmp_path: Path, master: pyvips.Image) -> None:
    stored = _stored_as(master, 6)
    shown = stored.autorot()
    path = _pyramid(tmp_path, stored)
    fields = {"crop": Rect(50, 300, 800, 600), "flip": "lr", "rotate": 90, "width": 300, "rect": Rect(20, 10, 200, 150)}
    image, out = _render(path, size=(H, W), **fields)
    expected, _ = _render(_pyramid(tmp_path, shown, "upright.tif"), size=(H, W), **fields)
    assert (out.width, out.height) == (200, 150)
    assert _diff(image, expected) == 0


def test_a_request_resolved_for_the_stored_size_of_a_turned_image_is_refused(tmp_path: Path,
                                                                             master: pyvips.Image) -> None:
    path = _pyramid(tmp_path, _stored_as(master, 8))
    with pytest.raises(DamagedPyramidError, match="1200×900 pixels \\(900×1200 as displayed\\)"):
        _render(path, size=(W, H), width=300)


def test_the_mask_is_turned_by_the_images_orientation(tmp_path: Path) -> None:
    path = _pyramid(tmp_path, _stored_as(_master(), 6), "image.tif", lossless=False)
    xy = pyvips.Image.xyz(W, H)
    corner = ((xy[0] < 300) & (xy[1] < 200)).ifthenelse(255, 0).cast("uchar")  # the stored top-left
    mask = _pyramid(tmp_path, corner.copy(interpretation="b-w"), "mask.tif")  # untagged, as the optimizer writes it
    request = RenditionRequest(H, W, width=225, fmt="png-alpha")
    out = render(FileRangeReader(str(path)), request, FileRangeReader(str(mask)), max_pixels=MAX)
    alpha = _decode(out.body)[3]
    assert (alpha.width, alpha.height) == (225, 300)
    assert _diff(alpha, _stored_as(corner, 6).autorot().resize(0.25, kernel="lanczos3")) < 2
    assert alpha(200, 10) == [255] and alpha(10, 10) == [0]  # orientation 6 shows the stored top-left top-right


def test_stored_rect_maps_a_displayed_region_onto_the_stored_pixels() -> None:
    # Each orientation's mapping against libvips' own autorot, pixel by pixel, on a 5×3 image.
    stored = (pyvips.Image.xyz(5, 3)[0] + pyvips.Image.xyz(5, 3)[1] * 10).cast("uchar")
    for orientation in range(1, 9):
        shown = _stored_as(stored, orientation).autorot()
        rect = Rect(1, 0, 2, 1) if shown.width > 3 else Rect(0, 1, 1, 2)
        at = stored_rect(rect, orientation, (shown.width, shown.height))
        region = shown.crop(rect.x, rect.y, rect.width, rect.height)
        values = {int(region(x, y)[0]) for x in range(rect.width) for y in range(rect.height)}
        assert values == {int(stored(x, y)[0]) for x in range(at.x, at.x + at.width)
                          for y in range(at.y, at.y + at.height)}, orientation


# --- sharpening -------------------------------------------------------------------------------

def _detail(image: pyvips.Image) -> float:
    laplace = pyvips.Image.new_from_array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    return image.cast("float").conv(laplace).abs().avg()


def test_op_sharpen_is_a_light_luma_unsharp_mask_after_scaling(pyramid: Path) -> None:
    plain, _ = _render(pyramid, width=300)
    sharp, _ = _render(pyramid, width=300, sharpen=1)
    f = plain.cast("float")
    luma = f[0] * 0.2126 + f[1] * 0.7152 + f[2] * 0.0722
    expected = (f + (luma - luma.gaussblur(0.5, precision="float", min_ampl=0.005))).rint().cast("uchar")
    assert _diff(sharp, expected) < 0.01
    assert _detail(sharp) > _detail(plain)


def test_op_usm_radius_is_scaled_with_the_image(pyramid: Path) -> None:
    plain, _ = _render(pyramid, width=300)
    usm = UnsharpMask(amount=1.5, radius=8.0, threshold=0, monochrome=False)
    sharp, _ = _render(pyramid, width=300, usm=usm)
    # At a quarter of the master's size, a full-resolution radius of 8 px is 2 px.
    f = plain.cast("float")
    expected = (f + (f - f.gaussblur(2.0, precision="float", min_ampl=0.005)) * 1.5).rint().cast("uchar")
    assert _diff(sharp, expected) < 0.01
    assert _detail(sharp) > _detail(plain) * 1.2


def test_op_usm_threshold_and_amount_zero_change_nothing(pyramid: Path) -> None:
    plain, _ = _render(pyramid, width=300)
    for usm in (UnsharpMask(0, 4, 0, False), UnsharpMask(2, 4, 255, False), UnsharpMask(2, 0.2, 0, False)):
        image, _ = _render(pyramid, width=300, usm=usm)
        assert _diff(image, plain) == 0, usm


def test_op_usm_monochrome_moves_every_band_alike(pyramid: Path) -> None:
    plain, _ = _render(pyramid, width=300)
    image, _ = _render(pyramid, width=300, usm=UnsharpMask(1.0, 8.0, 0, True))
    change = image.cast("float") - plain.cast("float")
    # Clipping at 0/255 aside, the luma delta is added to R, G and B equally.
    inner = (plain > 20).bandand() & (plain < 235).bandand()
    spread = (change[0] - change[1]).abs() + (change[1] - change[2]).abs()
    assert (inner.ifthenelse(spread, 0)).max() <= 2
    assert change.abs().avg() > 0.5


# --- formats, alpha, mask ---------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "content_type", "loader"), [
    ("jpeg", "image/jpeg", "jpegload_buffer"), ("png", "image/png", "pngload_buffer"),
    ("webp", "image/webp", "webpload_buffer"), ("tif", "image/tiff", "tiffload_buffer"),
    ("gif", "image/gif", "gifload_buffer"), ("avif", "image/avif", "heifload_buffer"),
])
def test_each_format_is_srgb_without_metadata(pyramid: Path, master: pyvips.Image, fmt: str,
                                              content_type: str, loader: str) -> None:
    if fmt == "avif" and ".avif" not in pyvips.get_suffixes():
        pytest.skip("libvips has no AVIF saver")
    image, out = _render(pyramid, width=300, fmt=fmt, quality=90)
    assert out.content_type == content_type
    assert image.get("vips-loader") == loader
    assert (image.width, image.height) == (300, 225)
    for field in ("icc-profile-data", "exif-data", "xmp-data", "iptc-data"):
        assert image.get_typeof(field) == 0, field
    colour = image.extract_band(0, n=3) if image.bands == 4 else image
    # Lossy formats halve the chroma resolution: the master's 6 px colour stripes suffer.
    tolerance = {"png": 2.5, "tif": 2.5, "jpeg": 8, "webp": 12, "avif": 12, "gif": 12}[fmt]
    assert _diff(colour, master.resize(0.25, kernel="lanczos3")) < tolerance


def test_jpeg_quality_is_applied(pyramid: Path) -> None:
    _, low = _render(pyramid, width=300, fmt="jpeg", quality=20)
    _, high = _render(pyramid, width=300, fmt="jpeg", quality=95)
    assert len(low.body) < len(high.body) / 2


def test_alpha_is_flattened_on_bgc_except_for_png_alpha(tmp_path: Path) -> None:
    rgb = _master(400, 300)
    alpha = (pyvips.Image.xyz(400, 300)[0] < 200).ifthenelse(255, 0).cast("uchar")
    path = _pyramid(tmp_path, rgb.bandjoin(alpha).copy(interpretation="srgb"))
    flat, out = _render(path, size=(400, 300), width=200, fmt="png", background=(255, 0, 0))
    assert flat.bands == 3
    assert flat(150, 50) == [255, 0, 0]
    keyed, out = _render(path, size=(400, 300), width=200, fmt="png-alpha")
    assert keyed.bands == 4 and keyed(150, 50)[3] == 0 and keyed(20, 50)[3] == 255


def test_png_alpha_takes_its_transparency_from_the_mask(tmp_path: Path) -> None:
    path = _pyramid(tmp_path, _master(), "image.tif", lossless=False)
    xy = pyvips.Image.xyz(W, H)
    disc = (((xy[0] - 600) ** 2 + (xy[1] - 450) ** 2) < 300 ** 2).ifthenelse(255, 0).cast("uchar")
    mask = _pyramid(tmp_path, disc.copy(interpretation="b-w"), "mask.tif")
    request = RenditionRequest(W, H, width=300, fmt="png-alpha")
    out = render(FileRangeReader(str(path)), request, FileRangeReader(str(mask)), max_pixels=MAX)
    image = _decode(out.body)
    assert image.bands == 4
    assert _diff(image[3], disc.resize(0.25, kernel="lanczos3")) < 2
    assert image(150, 112)[3] == 255 and image(5, 5)[3] == 0
    # Padding of a png-alpha view is transparent.
    padded = render(FileRangeReader(str(path)), RenditionRequest(W, H, width=300, height=300, fmt="png-alpha"),
                    FileRangeReader(str(mask)), max_pixels=MAX)
    assert _decode(padded.body)(150, 5)[3] == 0
    # The mask costs its own reads, counted in bytes_read.
    plain = render(FileRangeReader(str(path)), request, max_pixels=MAX)
    assert out.bytes_read > plain.bytes_read


def test_png_alpha_without_a_mask_is_opaque_for_an_opaque_image(pyramid: Path) -> None:
    image, _ = _render(pyramid, width=300, fmt="png-alpha")
    assert image.bands == 4 and image[3].min() == 255


def test_cmyk_pyramid_is_delivered_in_srgb(tmp_path: Path) -> None:
    cmyk = _master(400, 300).icc_transform("cmyk", input_profile="srgb", intent="relative")
    path = _pyramid(tmp_path, cmyk, lossless=False)
    image, _ = _render(path, size=(400, 300), width=200)
    assert image.bands == 3 and image.interpretation == "srgb"
    expected = cmyk.icc_transform("srgb", embedded=True, intent="relative").resize(0.5, kernel="lanczos3")
    assert _diff(image, expected) < 4


# --- reading only what is needed ----------------------------------------------------------------

@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8000×6000 (48 MP) JPEG pyramid, as an upload makes it."""
    xy = pyvips.Image.xyz(8000, 6000)
    noise = pyvips.Image.gaussnoise(8000, 6000, sigma=6)
    image = (xy[0] * (255 / 7999)).bandjoin([xy[1] * (255 / 5999), (xy[0] + xy[1]) * (255 / 13998)]) + noise
    path = tmp_path_factory.mktemp("large") / "large.tif"
    save_pyramid_tiff(image.cast("uchar").copy(interpretation="srgb"), str(path))
    return path


@pytest.mark.parametrize(("fields", "level", "most"), [
    ({"width": 256}, 4, 200_000),
    ({"width": 1024}, 2, 400_000),
    ({"crop": Rect(3000, 2000, 2000, 2000)}, 0, 1_000_000),
])
def test_a_rendition_reads_its_level_tiles_not_the_file(large: Path, fields: dict, level: int, most: int) -> None:
    reader = FileRangeReader(str(large))
    out = render(reader, RenditionRequest(8000, 6000, **fields), max_pixels=25_000_000)
    assert out.level == level
    assert out.bytes_read == reader.bytes_read
    assert reader.bytes_read < most < reader.size / 5
    assert reader.reads <= 20  # coalesced: each one a ranged GET on S3


@pytest.fixture(scope="module")
def large_turned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 48 MP as a portrait phone photo: stored 8000×6000, orientation 6, shown 6000×8000."""
    xy = pyvips.Image.xyz(8000, 6000)
    noise = pyvips.Image.gaussnoise(8000, 6000, sigma=6)
    image = (xy[0] * (255 / 7999)).bandjoin([xy[1] * (255 / 5999), (xy[0] + xy[1]) * (255 / 13998)]) + noise
    path = tmp_path_factory.mktemp("large") / "turned.tif"
    save_pyramid_tiff(_stored_as(image.cast("uchar").copy(interpretation="srgb"), 6), str(path))
    return path


@pytest.mark.parametrize(("fields", "level", "most"), [
    ({"width": 200}, 4, 200_000),  # 6000 shown across: level 4 (375); the stored 8000 would allow level 5 (250)
    ({"height": 1024}, 2, 400_000),  # 8000 shown down: level 2 (2000)
    ({"crop": Rect(1000, 5000, 2000, 2000)}, 0, 1_000_000),
])
def test_a_turned_rendition_reads_its_level_tiles_not_the_file(large_turned: Path, fields: dict, level: int,
                                                               most: int) -> None:
    reader = FileRangeReader(str(large_turned))
    cache = CachedReader(reader)
    size = displayed_size(cache, 8000, 6000)
    assert size == (6000, 8000)
    out = render(cache, RenditionRequest(*size, fmt="png", **fields), max_pixels=25_000_000)
    assert out.level == level
    assert out.bytes_read == reader.bytes_read  # the orientation read counted once, with the tiles
    assert reader.bytes_read < most < reader.size / 5
    assert reader.reads <= 20
    if "crop" in fields:  # the tiles read are the right ones: libvips' own decoding of them, turned
        expected = pyvips.Image.tiffload(str(large_turned)).autorot().crop(1000, 5000, 2000, 2000)
        assert _diff(_decode(out.body), expected) == 0


# --- limits and hostile input --------------------------------------------------------------------

def test_over_max_pixels_is_refused_before_reading(pyramid: Path) -> None:
    reader = FileRangeReader(str(pyramid))
    with pytest.raises(RenditionTooLargeError):
        render(reader, RenditionRequest(W, H, width=3000, height=3000), max_pixels=MAX)
    assert reader.reads == 0
    with pytest.raises(RenditionTooLargeError):
        render(reader, RenditionRequest(W, H, scale=0.01, rect=Rect(0, 0, 100, 100)), max_pixels=MAX)
    assert issubclass(RenditionTooLargeError, RenditionError)


def test_rect_may_cut_a_view_larger_than_max_pixels_up_to_the_master(pyramid: Path) -> None:
    out = render(FileRangeReader(str(pyramid)), RenditionRequest(W, H, scale=1.0, rect=Rect(0, 0, 100, 100)),
                 max_pixels=50_000)
    assert (out.width, out.height) == (100, 100)


def test_a_truncated_pyramid_is_a_damaged_pyramid(tmp_path: Path, pyramid: Path,
                                                   truncated: Callable[..., Path]) -> None:
    for fraction in (0.3, 0.6, 0.9, 0.99):
        cut = truncated(pyramid, fraction)
        with pytest.raises(DamagedPyramidError):
            render(FileRangeReader(str(cut)), RenditionRequest(W, H, width=300), max_pixels=MAX)


def test_a_pyramid_cut_inside_the_tiles_of_the_level_read(tmp_path: Path, master: pyvips.Image) -> None:
    path = _pyramid(tmp_path, master)

    class Lying(FileRangeReader):  # claims the full size, returns nothing past 40 %
        def read(self, offset: int, length: int) -> bytes:
            end = int(self.size * 0.4)
            return super().read(offset, max(0, min(length, end - offset)))

    with pytest.raises(DamagedPyramidError):
        render(Lying(str(path)), RenditionRequest(W, H, width=1200), max_pixels=MAX)


def test_not_a_tiff(write_bytes: Callable[[str, bytes], Path], master: pyvips.Image, tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    master.pngsave(str(png))
    for path in (png, write_bytes("empty.tif", b""), write_bytes("junk.tif", b"II*\x00" + b"\xff" * 100)):
        with pytest.raises(DamagedPyramidError):
            render(FileRangeReader(str(path)), RenditionRequest(W, H, width=300), max_pixels=MAX)


def test_a_pyramid_of_another_size_is_refused(pyramid: Path) -> None:
    with pytest.raises(DamagedPyramidError, match="1200×900"):
        render(FileRangeReader(str(pyramid)), RenditionRequest(1000, 900, width=300), max_pixels=MAX)


class StorageDown(Exception):
    pass


@pytest.mark.parametrize("fields", [{"width": 1200}, {"width": 300, "rect": Rect(0, 0, 300, 100)}])
def test_a_reader_that_raises_surfaces_its_own_exception(pyramid: Path, fields: dict) -> None:
    request = RenditionRequest(W, H, fmt="jpeg", **fields)
    counting = FileRangeReader(str(pyramid))
    render(counting, request, max_pixels=MAX)
    assert counting.reads >= 3
    # Whichever read fails (the header, a directory, the tiles in or outside libvips), it surfaces.
    for after in range(counting.reads):
        class Failing(FileRangeReader):
            def read(self, offset: int, length: int, after: int = after) -> bytes:
                if self.reads >= after:
                    raise StorageDown("S3 said 503")
                return super().read(offset, length)

        with pytest.raises(StorageDown):
            render(Failing(str(pyramid)), request, max_pixels=MAX)
