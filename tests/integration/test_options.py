"""The image options end to end: job options → pipeline → asset record, files and job log."""

from __future__ import annotations

import boto3
import pytest

pyvips = pytest.importorskip("pyvips")
ImageCms = pytest.importorskip("PIL.ImageCms")

from tests.integration.test_processing import rows, upload_and_end  # noqa: E402


def framed_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A white canvas with a red 100×50 block at (70, 40): auto colour crop keeps just the block."""
    canvas = (pyvips.Image.black(width, height, bands=3) + 255).cast("uchar")
    block = (pyvips.Image.black(100, 50, bands=3) + [200, 20, 20]).cast("uchar")
    return canvas.insert(block, 70, 40).copy(interpretation="srgb").pngsave_buffer()


def cmyk_jpeg() -> bytes:
    rgb = (pyvips.Image.black(120, 80, bands=3) + [30, 120, 200]).cast("uchar").copy(interpretation="srgb")
    return rgb.icc_transform("cmyk", input_profile="srgb").jpegsave_buffer(keep="none")


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def asset(stack, name: str) -> dict:
    found = stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"]
    assert len(found) == 1, found
    return found[0]


def tiff_size(stack, entry: dict) -> tuple[int, int]:
    data = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=entry["key"])["Body"].read()
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def test_manual_crop_is_applied_recorded_and_preserved_on_overwrite(stack):
    crop = {"left": 10, "right": 20, "top": 5, "bottom": 15}
    job = upload_and_end(stack, {"frame.png": framed_jpeg()}, manualCropOptions=crop)
    first = asset(stack, "frame")
    assert (first["width"], first["height"]) == (370, 280)
    assert first["cropRect"] == {"xOffset": 10, "yOffset": 5, "width": 370, "height": 280}
    assert tiff_size(stack, first["files"]["optimized"]) == (370, 280)
    assert "manualCropOptions" in rows(stack, job, "UploadSuccess")[0]["logMessage"]

    # No crop options, preserveCrop (default true): the stored crop is applied again.
    upload_and_end(stack, {"frame.png": framed_jpeg()})
    again = asset(stack, "frame")
    assert again["cropRect"] == first["cropRect"] and (again["width"], again["height"]) == (370, 280)

    # 0,0,0,0 counts as no crop options (spec §9.4): still preserved.
    upload_and_end(stack, {"frame.png": framed_jpeg()}, manualCropOptions={"left": 0, "right": 0, "top": 0, "bottom": 0})
    assert asset(stack, "frame")["cropRect"] == first["cropRect"]

    # preserveCrop false drops it.
    upload_and_end(stack, {"frame.png": framed_jpeg()}, preserveCrop=False)
    dropped = asset(stack, "frame")
    assert dropped["cropRect"] is None and (dropped["width"], dropped["height"]) == (400, 300)


def test_a_crop_that_leaves_nothing_is_an_upload_error(stack):
    job = upload_and_end(stack, {"tiny.png": framed_jpeg()},
                         manualCropOptions={"left": 300, "right": 100, "top": 0, "bottom": 0})
    (error,) = rows(stack, job, "UploadError")
    assert "300" in error["logMessage"] and "400" in error["logMessage"]


def test_auto_colour_crop_keeps_the_block(stack):
    upload_and_end(stack, {"block.png": framed_jpeg()},
                   autoColorCropOptions={"corner": "UpperLeft", "tolerance": 0.0})
    block = asset(stack, "block")
    assert block["cropRect"] == {"xOffset": 70, "yOffset": 40, "width": 100, "height": 50}


def test_get_auto_crop_rect_answers_for_a_stored_image(stack):
    upload_and_end(stack, {"probe.png": framed_jpeg()})
    handle = asset(stack, "probe")["assetHandle"]
    rect = stack.call("GET", f"/v1/assets/{handle}/auto-crop-rect",
                      query={"type": "Color", "corner": "BottomRight", "tolerance": "0"})
    assert rect.status == 200, rect.body
    assert rect.body == {"xOffset": 70, "yOffset": 40, "width": 100, "height": 50}
    for query in ({"type": "Colour"}, {"type": "Color", "corner": "Middle"},
                  {"type": "Color", "corner": "UpperLeft", "tolerance": "2"}):
        bad = stack.call("GET", f"/v1/assets/{handle}/auto-crop-rect", query=query)
        assert bad.status == 400 and bad.fault_code == 30001, query
    default_corner = stack.call("GET", f"/v1/assets/{handle}/auto-crop-rect", query={"type": "Color"})
    assert default_corner.body == rect.body  # UpperLeft is the same frame colour here
    opaque = stack.call("GET", f"/v1/assets/{handle}/auto-crop-rect", query={"type": "Transparent"})
    assert opaque.status == 400 and opaque.fault_code == 30001


def test_untagged_cmyk_is_converted_by_default_and_the_log_says_so(stack):
    job = upload_and_end(stack, {"print.jpg": cmyk_jpeg()})
    message = rows(stack, job, "UploadSuccess")[0]["logMessage"].lower()
    assert "cmyk" in message and "srgb" in message


def test_maintain_original_keeps_cmyk(stack):
    job = upload_and_end(stack, {"keep.jpg": cmyk_jpeg()},
                         colorManagementOptions={"colorManagement": "MaintainOriginal"})
    entry = asset(stack, "keep")["files"]["optimized"]
    data = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=entry["key"])["Body"].read()
    assert pyvips.Image.new_from_buffer(data, "").bands == 4
    assert rows(stack, job, "UploadSuccess")


def test_icc_profiles_become_assets_that_convert_jobs_use(stack):
    job = upload_and_end(stack, {"profiles/web.icc": srgb_profile(), "profiles/junk.icc": b"not a profile" * 20})
    assert rows(stack, job, "UploadSuccess")[0]["assetType"] == "IccProfile"
    assert "not an ICC profile" in rows(stack, job, "UploadError")[0]["logMessage"]
    profile = asset(stack, "web")
    assert profile["type"] == "IccProfile" and profile["files"]["optimized"] is None

    convert = {"colorManagement": "Convert", "sourceProfileHandle": profile["assetHandle"],
               "outputProfileHandle": profile["assetHandle"]}
    job = upload_and_end(stack, {"converted.png": framed_jpeg()}, colorManagementOptions=convert)
    assert "web" in rows(stack, job, "UploadSuccess")[0]["logMessage"]


def test_convert_needs_two_profile_assets_of_the_company(stack):
    upload_and_end(stack, {"image.png": framed_jpeg()})
    image = asset(stack, "image")["assetHandle"]
    missing = stack.open_job(colorManagementOptions={"colorManagement": "Convert"})
    assert missing.status == 400 and missing.fault_code == 30002
    wrong = stack.open_job(colorManagementOptions={"colorManagement": "Convert", "sourceProfileHandle": image,
                                                   "outputProfileHandle": image})
    assert wrong.status == 400 and wrong.fault_code == 30001 and "not an IccProfile" in wrong.body["fault"]["reason"]
    unknown = stack.open_job(colorManagementOptions={"colorManagement": "Convert", "sourceProfileHandle": "a-nope",
                                                     "outputProfileHandle": "a-nope"})
    assert unknown.status == 400 and unknown.fault_code == 30001


def test_create_mask_without_a_clipping_path_is_a_warning(stack):
    job = upload_and_end(stack, {"plain.png": framed_jpeg()}, createMask=True)
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileWarningCount"]) == (1, 1)
    [row] = rows(stack, job, "UploadSuccess")  # one row per file; the warning is in its auxArray
    [aux] = row["auxArray"]
    assert aux["logType"] == "UploadWarning" and "clipping path" in aux["logMessage"]
    assert asset(stack, "plain")["files"].get("mask") is None


def test_knockout_gives_the_optimized_image_alpha(stack):
    upload_and_end(stack, {"ko.png": framed_jpeg()},
                   knockoutBackgroundOptions={"corner": "UpperLeft", "tolerance": 0.05, "fillMethod": "FloodFill"})
    entry = asset(stack, "ko")["files"]["optimized"]
    data = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=entry["key"])["Body"].read()
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.bands == 4 and image.extract_band(3).getpoint(0, 0)[0] == 0
    assert image.extract_band(3).getpoint(120, 65)[0] == 255
