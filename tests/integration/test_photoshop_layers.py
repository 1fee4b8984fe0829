"""Photoshop ``MaintainLayers`` end to end: layer assets, their names and places, text, the template."""

from __future__ import annotations

import pytest
import requests

from tests.integration.test_options import asset
from tests.integration.test_processing import rows, upload_and_end

pytest.importorskip("psd_tools")
pyvips = pytest.importorskip("pyvips")

from tests.psd_files import Folder, Layer, layered_psd, spring_ad  # noqa: E402  (needs psd-tools)

RED, GREEN = (255, 0, 0, 255), (0, 255, 0, 255)


def layers(stack, name: str) -> list[dict]:
    parent = asset(stack, name)
    return [stack.call("GET", f"/v1/assets/{h}").body for h in parent["children"]]


def image_at(entry: dict):
    return pyvips.Image.new_from_buffer(requests.get(entry["url"], timeout=10).content, "")


def test_each_layer_becomes_an_asset_linked_to_the_psd_which_keeps_its_flattened_image(stack):
    data = spring_ad()
    job = upload_and_end(stack, {"ads/spring.psd": data}, photoshopOptions={"process": "MaintainLayers"})
    assert not [r for r in stack.job_log(job)["detailArray"] if "photoshopOptions" in r["logMessage"]]
    [file_row, *layer_rows] = [r for r in stack.job_log(job)["detailArray"] if r["logType"] == "UploadSuccess"]
    assert "5 of 5 layers extracted (layerNaming AppendName)" in file_row["logMessage"]
    spring = asset(stack, "spring")
    assert spring["type"] == "Image" and (spring["width"], spring["height"]) == (200, 100)
    assert requests.get(spring["files"]["master"]["url"], timeout=10).content == data
    assert image_at(spring["files"]["optimized"]).width == 200  # the flattened image, as with process None
    found = layers(stack, "spring")
    assert [a["name"] for a in found] == ["spring_1", "spring_Red box", "spring_3", "spring_Hidden", "spring_Headline"]
    assert all(a["parentHandle"] == spring["assetHandle"] and a["folder"] == "ads/" for a in found)
    red = found[1]
    assert red["psdLayer"] | {"text": None} == {
        "number": 2, "name": "Red box", "kind": "pixel", "groups": [], "visible": True, "opacity": 100,
        "blendMode": "normal", "x": 20, "y": 10, "width": 50, "height": 40, "text": None, "assetHandle": None}
    assert red["files"]["master"] is None  # a layer's only file is its pyramid TIFF; the PSD is the master
    tiff = image_at(red["files"]["optimized"])
    assert (tiff.width, tiff.height) == (50, 40) and tiff.getpoint(10, 10)[:3] == [255, 0, 0]
    assert found[2]["psdLayer"]["groups"] == ["Logos"] and found[3]["psdLayer"]["visible"] is False
    assert [r["logMessage"].split(" of ")[0] for r in layer_rows][:2] == ["Layer 1 ('Background')",
                                                                          "Layer 2 ('Red box')"]
    log = stack.job_log(job)  # one file, however many layers
    assert (log["totalFileCount"], log["fileSuccessCount"], log["fileWarningCount"]) == (1, 1, 0)


@pytest.mark.parametrize(("layer_naming", "names", "folders"), [
    ("LayerName", ["spring_1", "Red box", "spring_3", "Hidden", "Headline"], ["", "", "", "", ""]),
    ("AppendNumber", [f"spring_{n}" for n in range(1, 6)], ["", "", "", "", ""]),
    ("Folders", ["spring_1", "spring_Red box", "spring_3", "spring_Hidden", "spring_Headline"],
     ["spring/", "spring/", "spring/Logos/", "spring/Logos/", "spring/"]),
])
def test_layer_naming(stack, layer_naming, names, folders):
    upload_and_end(stack, {"spring.psd": spring_ad()},
                   photoshopOptions={"process": "MaintainLayers", "layerOptions": {"layerNaming": layer_naming}})
    found = layers(stack, "spring")
    assert [a["name"] for a in found] == names
    assert [a["folder"] for a in found] == folders


def test_extend_layers_gives_every_layer_the_canvas_size(stack):
    upload_and_end(stack, {"spring.psd": spring_ad()},
                   photoshopOptions={"process": "MaintainLayers", "layerOptions": {"extendLayers": True}})
    found = layers(stack, "spring")
    assert {(a["width"], a["height"], a["psdLayer"]["x"], a["psdLayer"]["y"]) for a in found} == {(200, 100, 0, 0)}
    red = image_at(found[1]["files"]["optimized"])
    assert red.getpoint(30, 20) == [255, 0, 0, 255] and red.getpoint(150, 80)[3] == 0


def test_text_and_template(stack):
    options = {"process": "MaintainLayers",
               "layerOptions": {"extractText": True, "createTemplate": True, "anchor": "North"}}
    job = upload_and_end(stack, {"spring.psd": spring_ad()}, photoshopOptions=options)
    spring = asset(stack, "spring")
    headline = asset(stack, "spring_Headline")
    assert headline["psdLayer"]["text"] == "Spring Sale\n50% off"
    assert headline["searchWords"] == ["spring", "sale", "50", "off"] and spring["searchWords"] == headline["searchWords"]
    assert asset(stack, "spring_Red box")["psdLayer"]["text"] is None
    found = stack.call("GET", "/v1/assets", query={"text": "sale"}).body["assetArray"]
    assert sorted(a["name"] for a in found) == ["spring", "spring_Headline"]

    template = asset(stack, "spring_template")
    assert template["type"] == "PsdTemplate" and template["parentHandle"] == spring["assetHandle"]
    assert template["children"] == spring["children"] and template["files"]["master"] is None
    described = template["template"]
    assert (described["width"], described["height"], described["anchor"]) == (200, 100, "North")
    assert [(layer["assetHandle"], layer["x"], layer["y"]) for layer in described["layers"]][1:3] == [
        (spring["children"][1], 20, 10), (spring["children"][2], 150, 60)]
    assert described["layers"][4]["text"] == "Spring Sale\n50% off"
    [row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetType"] == "PsdTemplate"]
    assert "Template spring_template was created from spring.psd with 5 layers (anchor North)" == row["logMessage"]


def test_a_reupload_updates_its_layers_and_template_instead_of_making_new_ones(stack):
    options = {"process": "MaintainLayers", "layerOptions": {"createTemplate": True}}
    upload_and_end(stack, {"spring.psd": spring_ad()}, photoshopOptions=options)
    first = asset(stack, "spring")["children"]
    again = upload_and_end(stack, {"spring.psd": spring_ad()}, photoshopOptions=options)
    assert asset(stack, "spring")["children"] == first
    updated = rows(stack, again, "FileUpdated")
    assert len(updated) == 1 + 5 + 1  # the file, its layers, its template
    for name in ("spring-1", "spring_Red box-1", "spring_template-1"):
        assert stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"] == []


def test_a_taken_name_without_overwrite_skips_that_layer_only(stack):
    upload_and_end(stack, {"Red box.jpg": _jpeg()})
    job = upload_and_end(stack, {"spring.psd": spring_ad()}, overwrite=False,
                         photoshopOptions={"process": "MaintainLayers", "layerOptions": {"layerNaming": "LayerName"}})
    [skipped] = rows(stack, job, "DuplicateSkipped")
    assert skipped["logMessage"].startswith("Layer 2 ('Red box') of spring.psd was skipped: asset Red box already")
    assert [a["name"] for a in layers(stack, "spring")] == ["spring_1", "spring_3", "Hidden", "Headline"]


def test_hostile_names_folders_and_layers_off_the_canvas(stack):
    deep = Folder("1", [Folder("2", [Folder("3", [Folder("4", [Folder("5", [Folder("6", [Layer("deep", RED)])])])])])])
    data = layered_psd([
        Layer("../../etc/passwd", RED, size=(20, 20)),
        Folder("..", [Layer("a\x00b\x1bc", GREEN, left=30, size=(20, 20))]),
        Layer("Off canvas", RED, left=500, top=500),
        deep,
    ], size=(100, 50))
    job = upload_and_end(stack, {"evil.psd": data},
                         photoshopOptions={"process": "MaintainLayers", "layerOptions": {"layerNaming": "Folders"}})
    [file_row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "evil"]
    warnings = [a["logMessage"] for a in file_row["auxArray"]]
    assert any("1 layers sit more than 5 layer groups deep" in w for w in warnings)
    [refused] = rows(stack, job, "UploadError")
    assert refused["logMessage"] == "Layer 3 ('Off canvas') of evil.psd was not extracted: layer 3 lies outside the canvas"
    found = layers(stack, "evil")
    assert [(a["name"], a["folder"]) for a in found] == [
        ("evil_....etcpasswd", "evil/"), ("evil_a b c", "evil/_/"), ("evil_deep", "evil/1/2/3/4/5/")]
    log = stack.job_log(job)  # a refused layer is a warning of the file, not an error of the job
    assert (log["fileSuccessCount"], log["fileWarningCount"], log["fileErrorCount"]) == (1, 1, 0)


def test_ips_refusals_still_apply_with_maintain_layers(stack):
    from tests.imaging.test_photoshop import patched, psd_bytes

    job = upload_and_end(stack, {"lab.psd": patched(psd_bytes(), 24, 9)},
                         photoshopOptions={"process": "MaintainLayers"})
    [row] = rows(stack, job, "UploadError")
    assert "colour mode is Lab" in row["logMessage"]


def _jpeg() -> bytes:
    return pyvips.Image.black(8, 8).jpegsave_buffer()


def test_cmyk_layers_go_through_colour_management_with_their_transparency(stack):
    job = upload_and_end(stack, {"print.psd": spring_ad("CMYK")}, photoshopOptions={"process": "MaintainLayers"})
    red = asset(stack, "print_Red box")
    [row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "print_Red box"]
    assert "converted CMYK to sRGB" in row["logMessage"]
    tiff = image_at(red["files"]["optimized"])
    r, g, b, alpha = tiff.getpoint(10, 10)
    assert r > 200 and g < 120 and b < 120 and alpha == 255


def test_a_layer_removed_from_the_document_is_kept_but_no_longer_linked(stack):
    options = {"process": "MaintainLayers"}
    upload_and_end(stack, {"ad.psd": layered_psd([Layer("Logo", RED), Layer("Badge", GREEN, left=20)])},
                   photoshopOptions=options)
    badge = asset(stack, "ad_Badge")
    job = upload_and_end(stack, {"ad.psd": layered_psd([Layer("Logo", RED)])}, photoshopOptions=options)
    assert [a["name"] for a in layers(stack, "ad")] == ["ad_Logo"]
    kept = asset(stack, "ad_Badge")
    assert kept["assetHandle"] == badge["assetHandle"] and kept["parentHandle"] is None
    [row] = [r for r in rows(stack, job, "FileUpdated") if r["assetName"] == "ad"]
    assert "layer assets of an earlier upload detached (kept): 1" in row["logMessage"]
