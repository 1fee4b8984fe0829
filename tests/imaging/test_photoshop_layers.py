"""Photoshop layers: what the stack holds, and each layer rendered alone (``MaintainLayers``)."""

from __future__ import annotations

import struct

import pytest

from openips.imaging.photoshop import LayerInfo, PhotoshopRefusedError, open_document

pytest.importorskip("psd_tools")
pyvips = pytest.importorskip("pyvips")

from tests.psd_files import Folder, Layer, layered_psd, spring_ad  # noqa: E402  (needs psd-tools)


def _open(tmp_path, data: bytes):
    path = tmp_path / "doc.psd"
    path.write_bytes(data)
    return open_document(str(path), max_pixels=10**7)


def test_the_stack_is_read_bottom_to_top_with_groups_visibility_and_text(tmp_path):
    with _open(tmp_path, spring_ad()) as document:
        layers = document.layers
    assert [(layer.number, layer.name, layer.groups, layer.visible) for layer in layers] == [
        (1, "Background", (), True), (2, "Red box", (), True), (3, "Layer 3", ("Logos",), True),
        (4, "Hidden", ("Logos",), False), (5, "Headline", (), True)]
    assert [layer.kind for layer in layers] == ["pixel", "pixel", "pixel", "pixel", "type"]
    assert layers[4].text == "Spring Sale\n50% off" and layers[1].text is None
    assert (layers[1].left, layers[1].top, layers[1].right, layers[1].bottom) == (20, 10, 70, 50)


def test_a_layer_renders_alone_cut_to_its_box_or_extended_to_the_canvas(tmp_path):
    with _open(tmp_path, spring_ad()) as document:
        blue = document.layers[2]
        own = document.render_layer(blue, str(tmp_path / "own.tif"), extend=False)
        extended = document.render_layer(blue, str(tmp_path / "ext.tif"), extend=True)
        hidden = document.render_layer(document.layers[3], str(tmp_path / "hidden.tif"), extend=False)
    image = pyvips.Image.new_from_file(own.path)
    assert (own.left, own.top, image.width, image.height, image.bands) == (150, 60, 30, 30, 4)
    assert image.getpoint(5, 5) == [0, 0, 255, 200]  # its colour and its own transparency, nothing below
    canvas = pyvips.Image.new_from_file(extended.path)
    assert (extended.left, extended.top, canvas.width, canvas.height) == (0, 0, 200, 100)
    assert canvas.getpoint(155, 65) == [0, 0, 255, 200] and canvas.getpoint(10, 10)[3] == 0
    assert pyvips.Image.new_from_file(hidden.path).getpoint(5, 5) == [0, 255, 0, 255]  # hidden layers render


def test_cmyk_layers_keep_their_ink_and_alpha(tmp_path):
    with _open(tmp_path, spring_ad("CMYK")) as document:
        rendered = document.render_layer(document.layers[1], str(tmp_path / "red.tif"), extend=True)
    image = pyvips.Image.new_from_file(rendered.path)
    assert (image.bands, image.interpretation) == (5, "cmyk")
    assert image.getpoint(30, 20) == [0, 255, 255, 0, 255]  # magenta + yellow, opaque
    assert image.getpoint(5, 5)[4] == 0  # outside the box: transparent


def test_a_layer_outside_the_canvas_is_cut_or_refused(tmp_path):
    data = layered_psd([Layer("Overhang", (255, 0, 0, 255), left=-10, top=-5, size=(30, 20)),
                        Layer("Away", (255, 0, 0, 255), left=500, top=500, size=(10, 10))], size=(100, 50))
    with _open(tmp_path, data) as document:
        overhang, away = document.layers
        cut = document.render_layer(overhang, str(tmp_path / "cut.tif"), extend=False)
        with pytest.raises(PhotoshopRefusedError, match="outside the canvas"):
            document.render_layer(away, str(tmp_path / "away.tif"), extend=False)
    assert (cut.left, cut.top, cut.width, cut.height, cut.clipped) == (0, 0, 20, 15, True)


def test_adjustment_and_empty_layers_have_no_image_of_their_own():
    def info(kind: str, box=(0, 0, 10, 10)) -> LayerInfo:
        return LayerInfo(index=0, number=1, name="x", kind=kind, groups=(), visible=True, opacity=255,
                         blend_mode="normal", left=box[0], top=box[1], right=box[2], bottom=box[3], text=None)

    assert info("pixel").has_own_pixels and info("type").has_own_pixels and info("shape").has_own_pixels
    assert not info("curves").has_own_pixels and not info("adjustment").has_own_pixels
    assert not info("pixel", (0, 0, 0, 0)).has_own_pixels


def test_nested_groups_are_listed_outermost_first(tmp_path):
    nested = Folder("A", [Folder("B", [Folder("C", [Layer("deep", (1, 2, 3, 255))])])])
    with _open(tmp_path, layered_psd([nested])) as document:
        (deep,) = document.layers
    assert deep.groups == ("A", "B", "C")


def test_a_layer_claiming_a_huge_box_is_refused_before_anything_is_decoded(tmp_path):
    data = layered_psd([Layer("bomb", (255, 0, 0, 255), left=3, top=2, size=(10, 10))], size=(100, 50))
    box = struct.pack(">iiii", 2, 3, 12, 13)  # the layer record's top, left, bottom, right
    assert data.count(box) >= 1
    with _open(tmp_path, data.replace(box, struct.pack(">iiii", 2, 3, 20000, 20000))) as document:
        (bomb,) = document.layers
        with pytest.raises(PhotoshopRefusedError, match="claims 19997×19998 = 399900006 pixels, more than"):
            document.render_layer(bomb, str(tmp_path / "bomb.tif"), extend=False)


def test_grayscale_layers_are_grey_with_alpha(tmp_path):
    with _open(tmp_path, layered_psd([Layer("Grey", (80,), left=5, top=5, size=(20, 10))], mode="L",
                                     size=(60, 40))) as document:
        assert document.header.mode == "Grayscale"
        rendered = document.render_layer(document.layers[0], str(tmp_path / "g.tif"), extend=True)
    image = pyvips.Image.new_from_file(rendered.path)
    assert (image.bands, image.interpretation) == (2, "b-w")
    assert image.getpoint(10, 8) == [80, 255] and image.getpoint(0, 0)[1] == 0
