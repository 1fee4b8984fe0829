"""InDesign uploads end to end: an InDesign asset, and its XMP page previews as page images."""

from __future__ import annotations

import pytest
from openips.imaging.indesign import INDESIGN_MAGIC

from tests.imaging.test_indesign import packet, page_item, preview_jpeg
from tests.integration.test_options import asset
from tests.integration.test_processing import rows, upload_and_end

pyvips = pytest.importorskip("pyvips")


def indd_bytes(*items: str) -> bytes:
    return INDESIGN_MAGIC + b"DOCUMENT" + bytes(2000) + packet(list(items)) + bytes(500)



def test_page_previews_become_page_images_of_the_indesign_asset(stack):
    doc = indd_bytes(page_item(1, preview_jpeg(160, 120, 30), 160, 120), page_item(2, preview_jpeg(120, 160, 90), 120, 160))
    job = upload_and_end(stack, {"layouts/spring.indd": doc}, unsharpMaskOptions={"amount": 1.0})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["totalFileCount"]) == (1, 1)  # one file, three assets
    spring = asset(stack, "spring")
    assert spring["type"] == "InDesign" and spring["files"]["optimized"] is None
    pages = [stack.call("GET", f"/v1/assets/{h}").body for h in spring["children"]]
    assert [(p["name"], p["type"], p["width"], p["height"], p["parentHandle"]) for p in pages] == [
        ("spring_1", "Image", 160, 120, spring["assetHandle"]), ("spring_2", "Image", 120, 160, spring["assetHandle"])]
    file_row = next(r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "spring")
    assert "InDesign document" in file_row["logMessage"] and "2 of 2 page previews extracted" in file_row["logMessage"]
    page_row = next(r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "spring_1")
    assert "the preview InDesign stored in the file (160×120)" in page_row["logMessage"]
    assert "unsharpMaskOptions" in page_row["logMessage"]  # the job's options apply to the previews


def test_process_none_and_a_document_without_previews_store_the_file_only(stack):
    job = upload_and_end(stack, {"a.indd": indd_bytes(page_item(1, preview_jpeg(20, 20, 1), 20, 20))},
                         inDesignOptions={"process": "None"})
    assert asset(stack, "a")["children"] == [] and asset(stack, "a")["type"] == "InDesign"
    assert stack.call("GET", "/v1/assets", query={"name": "a_1"}).body["assetArray"] == []
    job = upload_and_end(stack, {"bare.indd": INDESIGN_MAGIC + bytes(100)})
    [row] = rows(stack, job, "UploadSuccess")
    assert "holds no page previews" in row["auxArray"][0]["logMessage"]
    assert stack.job_log(job)["fileWarningCount"] == 1


def test_a_bad_preview_is_a_warning_and_the_rest_are_kept(stack):
    bad = '<rdf:li rdf:parseType="Resource"><xmpGImg:image>@@@</xmpGImg:image></rdf:li>'
    job = upload_and_end(stack, {"mixed.indd": indd_bytes(page_item(1, preview_jpeg(30, 30, 5), 30, 30), bad)})
    [row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "mixed"]
    assert "1 of 1 page previews extracted" in row["logMessage"]
    assert any("page 2 is not valid base64" in a["logMessage"] for a in row["auxArray"])
