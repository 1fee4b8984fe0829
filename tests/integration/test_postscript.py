"""postScriptOptions end to end: EPS rendered from its TIFF preview, plain PostScript stored, hostile files kept."""

from __future__ import annotations

import boto3
import pytest

from tests.eps_files import bomb_tiff, dos_eps, postscript, tiff_preview
from tests.integration.test_options import asset
from tests.integration.test_processing import jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")



def optimized(stack, found: dict) -> pyvips.Image:
    key = f"{found['companyHandle']}/{found['assetHandle']}/optimized.tif"
    body = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=key)["Body"].read()
    return pyvips.Image.new_from_buffer(body, "")


def master(stack, found: dict) -> bytes:
    key = f"{found['companyHandle']}/{found['assetHandle']}/master"
    return boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=key)["Body"].read()


def quarantined(stack, name: str) -> bool:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names["IncomingBucket"], Prefix="quarantine/")
    return any(o["Key"].endswith("/" + name) for o in listed.get("Contents", []))


def aux(row: dict) -> list[str]:
    return [a["logMessage"] for a in row.get("auxArray") or []]


def test_eps_with_a_tiff_preview_becomes_an_image_with_the_options_applied(stack):
    # 400×200 preview for a 192×96 pt page (150 ppi); Gray, 75 ppi, a manual crop and sharpening.
    data = dos_eps(postscript(192, 96), tiff_preview(400, 200))
    options = {"postScriptOptions": {"process": "Rasterize", "resolution": 75, "colorspace": "Gray"},
               "manualCropOptions": {"left": 10, "right": 10, "top": 0, "bottom": 0},
               "unsharpMaskOptions": {"amount": 1.0, "radius": 1.0, "threshold": 0, "monochrome": 0}}
    job = upload_and_end(stack, {"logos/brand.eps": data}, **options)
    [row] = rows(stack, job, "UploadSuccess")
    message = row["logMessage"]
    assert "DOS EPS (TIFF preview), rasterised from its embedded TIFF preview: 180×100, pyramid TIFF" in message
    assert "reduced to 200×100" in message and "preview converted from RGB to greyscale" in message
    assert row["assetType"] == "MasterImage"
    found = asset(stack, "brand")
    assert (found["type"], found["folder"], found["width"], found["height"]) == ("Image", "logos/", 180, 100)
    image = optimized(stack, found)
    assert (image.width, image.height, image.bands) == (180, 100, 1)
    assert master(stack, found) == data  # the EPS itself is the master, byte for byte
    # postScriptOptions is applied now: no "not applied yet" row for it.
    assert not any("postScriptOptions" in r["logMessage"] for r in rows(stack, job, "UploadWarning"))


def test_a_higher_resolution_or_alpha_than_the_preview_has_are_warnings(stack):
    data = dos_eps(postscript(192, 96), tiff_preview(400, 200))
    job = upload_and_end(stack, {"hi.eps": data},
                         postScriptOptions={"resolution": 300, "alpha": True, "extractSearchWords": True})
    [row] = rows(stack, job, "UploadSuccess")
    warnings = " | ".join(aux(row))
    assert "300 ppi needs 800×400 pixels" in warnings and "never upscaled" in warnings
    assert "has no transparency" in warnings and "extractSearchWords: not applied" in warnings
    assert stack.job_log(job)["fileWarningCount"] == 1
    assert (asset(stack, "hi")["width"], asset(stack, "hi")["type"]) == (400, "Image")


def test_plain_postscript_is_stored_with_a_warning_in_the_jobs_language(stack):
    job = upload_and_end(stack, {"doc.ps": postscript()}, locale="ko-KR")
    [row] = rows(stack, job, "UploadSuccess")
    assert row["assetType"] == "NoType"
    found = asset(stack, "doc")
    assert found["type"] == "PostScript" and found["files"]["optimized"] is None
    [korean] = aux(row)
    assert "래스터화되지 않았습니다" in korean and "Ghostscript" in korean
    english = stack.job_log(job, locale="en")
    [row_en] = [r for r in english["detailArray"] if r["logType"] == "UploadSuccess"]
    assert "PostScript, stored, not rasterised" in row_en["logMessage"]
    assert ("not rasterised: the file has no embedded TIFF preview, and rendering PostScript needs Ghostscript"
            in aux(row_en)[0])


def test_wmf_only_eps_and_process_none_store_the_file_only(stack):
    wmf_only = dos_eps(tiff=None, wmf=b"\xd7\xcd\xc6\x9a" + bytes(60))
    job = upload_and_end(stack, {"clip.eps": wmf_only})
    [row] = rows(stack, job, "UploadSuccess")
    assert "Windows Metafile (WMF), which openips cannot decode" in aux(row)[0]
    assert asset(stack, "clip")["type"] == "PostScript"

    job = upload_and_end(stack, {"keep.eps": dos_eps()}, postScriptOptions={"process": "None"})
    [row] = rows(stack, job, "UploadSuccess")
    assert "stored without a rendering (postScriptOptions.process None)" in row["logMessage"]
    assert not row.get("auxArray")
    found = asset(stack, "keep")
    assert found["type"] == "PostScript" and found["files"]["optimized"] is None


@pytest.mark.parametrize(("data", "reason"), [
    (dos_eps(header=(30, 10**9, 0, 0, 0, 0)), "lies outside the file"),
    (dos_eps(header=(30, 50, 0, 0, 40, 20)), "overlaps its TIFF preview"),
    (dos_eps()[:300], "the file is truncated"),
    (dos_eps(tiff=bomb_tiff()), "TIFF preview is too large"),
    (dos_eps(tiff=b"II*\x00garbage, not a real tiff" * 4), "TIFF preview cannot be read"),
])
def test_hostile_eps_files_are_refused_and_kept(stack, data, reason):
    job = upload_and_end(stack, {"art/hostile.eps": data})
    [row] = rows(stack, job, "UploadError")
    assert row["logMessage"].startswith("art/hostile.eps could not be processed") and reason in row["logMessage"]
    assert "kept at s3://" in row["logMessage"]
    assert quarantined(stack, "art/hostile.eps")
    assert stack.call("GET", "/v1/assets", query={"name": "hostile"}).body["assetArray"] == []
    assert stack.job_log(job)["logType"] == "EndUpload"


def test_an_eps_extension_on_something_else_is_refused(stack):
    job = upload_and_end(stack, {"fake.eps": jpeg()})
    [row] = rows(stack, job, "UploadError")
    assert "has a .eps extension but is not PostScript" in row["logMessage"]
