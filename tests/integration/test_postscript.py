"""postScriptOptions end to end: EPS/PS rendered by Ghostscript, or from its TIFF preview, or stored; hostile files.

The preview-route tests run with Ghostscript made unavailable (``without_ghostscript``), so both
routes stay tested on a machine that has gs; the Ghostscript tests need one (``gs``: skipped
without it, a failure with OPENIPS_REQUIRE_GS=1, as in CI).
"""

from __future__ import annotations

import time

import boto3
import pytest

from openips.imaging import ghostscript
from openips.settings import get_settings
from tests.eps_files import (
    bomb_tiff,
    cmyk_eps,
    dos_eps,
    hostile_eps,
    postscript,
    require_ghostscript,
    tiff_preview,
    two_page_ps,
    vector_eps,
)
from tests.integration.test_options import asset
from tests.integration.test_processing import jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")


@pytest.fixture
def without_ghostscript(monkeypatch):
    """This deployment has no Ghostscript (the default one: the layer is opt-in)."""
    monkeypatch.setattr(ghostscript, "locate", lambda configured=None: None)


@pytest.fixture
def gs():
    return require_ghostscript()


def gs_limits(monkeypatch, **env: str) -> None:
    """Ghostscript's limits for this test (GHOSTSCRIPT_TIMEOUT_SECONDS, GHOSTSCRIPT_MEMORY_MB)."""
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    get_settings.cache_clear()



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


@pytest.mark.usefixtures("without_ghostscript")
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


@pytest.mark.usefixtures("without_ghostscript")
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


@pytest.mark.usefixtures("without_ghostscript")
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
    assert ("not rasterised: the file has no embedded TIFF preview, and rendering PostScript needs Ghostscript, "
            "which this deployment does not have" in aux(row_en)[0])


@pytest.mark.usefixtures("without_ghostscript")
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


@pytest.mark.usefixtures("without_ghostscript")  # with gs, a bad preview is never looked at
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
    assert quarantined(stack, "hostile.eps")
    assert stack.call("GET", "/v1/assets", query={"name": "hostile"}).body["assetArray"] == []
    assert stack.job_log(job)["logType"] == "EndUpload"


def test_an_eps_extension_on_something_else_is_refused(stack):
    job = upload_and_end(stack, {"fake.eps": jpeg()})
    [row] = rows(stack, job, "UploadError")
    assert "has a .eps extension but is not PostScript" in row["logMessage"]


# ---------------------------------------------------------------- rendered by Ghostscript

def pixel(image, x: int, y: int) -> list[int]:
    return [round(v) for v in image(x, y)]


def near(found: list[int], expected: list[int], tolerance: int = 3) -> bool:
    """Pyramid TIFF tiles are JPEG: flat colours come back within a few levels."""
    return len(found) == len(expected) and all(abs(a - b) <= tolerance for a, b in zip(found, expected, strict=True))


def test_rasterize_renders_the_postscript_itself_at_the_resolution(stack, gs):
    # A DOS EPS whose preview is only 20×10: Ghostscript renders the PostScript, the preview is unused.
    data = dos_eps(vector_eps(200, 100, origin=(30, 40)), tiff_preview(20, 10))
    job = upload_and_end(stack, {"art/logo.eps": data}, postScriptOptions={"resolution": 144})
    [row] = rows(stack, job, "UploadSuccess")
    assert "DOS EPS (TIFF preview), rendered by Ghostscript " in row["logMessage"]
    assert "400×200 at 144 ppi for the 200×100 pt bounding box, colorspace Auto: RGB" in row["logMessage"]
    assert not row.get("auxArray") and row["assetType"] == "MasterImage"
    found = asset(stack, "logo")
    assert (found["type"], found["width"], found["height"]) == ("Image", 400, 200)
    image = optimized(stack, found)
    assert (image.width, image.height, image.bands) == (400, 200, 3)
    assert near(pixel(image, 20, 100), [255, 0, 0])  # the red half, moved to the bounding box's origin
    assert near(pixel(image, 390, 10), [255, 255, 255])
    assert master(stack, found) == data
    assert stack.job_log(job)["fileWarningCount"] == 0


@pytest.mark.parametrize(("data", "options", "bands", "interpretation", "left"), [
    (vector_eps(), {"colorspace": "Gray"}, 1, "b-w", None),
    (vector_eps(), {"colorspace": "Rgb"}, 3, "srgb", [255, 0, 0]),
    (cmyk_eps(), {"colorspace": "Rgb"}, 3, "srgb", None),
    (cmyk_eps(), {}, 4, "cmyk", [0, 0, 0, 255]),  # Auto: the file declares CMYK process colours
    (vector_eps(), {"colorspace": "Cmyk"}, 4, "cmyk", None),
])
def test_colorspace_is_the_rendering_colour_space(stack, gs, data, options, bands, interpretation, left):
    job = upload_and_end(stack, {"c.eps": data}, postScriptOptions={"resolution": 72, **options},
                         colorManagementOptions={"colorManagement": "MaintainOriginal"})  # pixels as rendered
    [row] = rows(stack, job, "UploadSuccess")
    image = optimized(stack, asset(stack, "c"))
    assert (image.width, image.height, image.bands, image.interpretation) == (200, 100, bands, interpretation)
    if left is not None:
        assert near(pixel(image, 20, 50), left), row["logMessage"]
    if interpretation == "cmyk" and data == cmyk_eps():
        assert near(pixel(image, 180, 50), [255, 0, 0, 0])  # the cyan ink as it was written


def test_alpha_keeps_a_transparent_background(stack, gs):
    job = upload_and_end(stack, {"on.eps": vector_eps(), "off.eps": vector_eps()},
                         postScriptOptions={"resolution": 72, "alpha": True})
    assert len(rows(stack, job, "UploadSuccess")) == 2
    transparent = optimized(stack, asset(stack, "on"))
    assert transparent.bands == 4
    assert near(pixel(transparent, 20, 50), [255, 0, 0, 255]) and pixel(transparent, 190, 10)[3] == 0
    upload_and_end(stack, {"off.eps": vector_eps()}, postScriptOptions={"resolution": 72, "alpha": False})
    opaque = optimized(stack, asset(stack, "off"))
    assert opaque.bands == 3 and near(pixel(opaque, 190, 10), [255, 255, 255])


def test_search_words_are_extracted_and_searchable(stack, gs):
    job = upload_and_end(stack, {"words.eps": vector_eps(), "kept.ps": two_page_ps()},
                         postScriptOptions={"extractSearchWords": True, "resolution": 72})
    messages = {r["logMessage"].split(" ")[0]: r for r in rows(stack, job, "UploadSuccess")}
    assert "extractSearchWords: 4 search words (Ghostscript txtwrite" in messages["words.eps"]["logMessage"]
    found = stack.call("GET", "/v1/assets", query={"text": "ghostscript"}).body["assetArray"]
    assert [a["name"] for a in found] == ["words"]
    # Every page's words, not only the first page's (the one rendered).
    assert [a["name"] for a in stack.call("GET", "/v1/assets", query={"text": "second"}).body["assetArray"]] == ["kept"]
    # A re-upload without extractSearchWords clears them.
    upload_and_end(stack, {"words.eps": vector_eps()}, postScriptOptions={"resolution": 72})
    assert stack.call("GET", "/v1/assets", query={"text": "ghostscript"}).body["assetArray"] == []


def test_process_none_stores_the_file_with_its_words(stack, gs):
    job = upload_and_end(stack, {"stored.eps": vector_eps()},
                         postScriptOptions={"process": "None", "extractSearchWords": True})
    [row] = rows(stack, job, "UploadSuccess")
    assert "stored without a rendering" in row["logMessage"] and not row.get("auxArray")
    assert asset(stack, "stored")["type"] == "PostScript"
    assert [a["name"] for a in stack.call("GET", "/v1/assets", query={"text": "renders"}).body["assetArray"]] == \
        ["stored"]


def test_a_postscript_document_gives_its_first_page(stack, gs):
    job = upload_and_end(stack, {"doc.ps": two_page_ps()}, postScriptOptions={"resolution": 72})
    [row] = rows(stack, job, "UploadSuccess")
    assert "for the 200×100 pt %%DocumentMedia" in row["logMessage"]
    assert "page 1 of 2 (%%Pages), the others are not rendered" in row["logMessage"]
    image = optimized(stack, asset(stack, "doc"))
    assert (image.width, image.height) == (200, 100) and near(pixel(image, 190, 5), [255, 0, 0])  # page 1: red


@pytest.mark.usefixtures("without_ghostscript")
def test_without_ghostscript_words_are_a_warning(stack):
    job = upload_and_end(stack, {"w.eps": vector_eps()}, postScriptOptions={"extractSearchWords": True})
    [row] = rows(stack, job, "UploadSuccess")
    assert asset(stack, "w")["type"] == "PostScript"
    assert any("extractSearchWords: not applied (extracting words from PostScript needs Ghostscript, which this "
               "deployment does not have)" in a for a in aux(row))


# ---------------------------------------------------------------- hostile PostScript

@pytest.mark.parametrize(("name", "limits", "reason"), [
    ("infinite_loop", {"GHOSTSCRIPT_TIMEOUT_SECONDS": "1.5"}, "Ghostscript ran longer than 1.5 s and was stopped"),
    ("memory_bomb", {"GHOSTSCRIPT_MEMORY_MB": "256"}, "/VMerror (memory exhausted: the limit is 256 MiB)"),
    ("read_passwd", {}, "/invalidfileaccess (refused by -dSAFER) in --file--"),
    ("pipe_command", {}, "(refused by -dSAFER)"),
    ("deep_recursion", {}, "stackoverflow"),
])
def test_hostile_postscript_is_stopped_and_the_file_stored_unrendered(stack, gs, monkeypatch, name, limits, reason):
    gs_limits(monkeypatch, **limits)
    started = time.monotonic()
    job = upload_and_end(stack, {"evil.eps": hostile_eps(name)})
    assert time.monotonic() - started < 15
    [row] = rows(stack, job, "UploadSuccess")
    [warning] = aux(row)
    assert warning.startswith("evil.eps: not rasterised: Ghostscript could not render the PostScript (")
    assert reason in warning and "/tmp" not in warning
    found = asset(stack, "evil")
    assert found["type"] == "PostScript" and found["files"]["optimized"] is None
    assert stack.job_log(job)["fileWarningCount"] == 1


def test_a_failing_rendering_falls_back_to_the_tiff_preview(stack, gs, monkeypatch):
    gs_limits(monkeypatch, GHOSTSCRIPT_TIMEOUT_SECONDS="1.5")
    data = dos_eps(hostile_eps("infinite_loop"), tiff_preview(400, 200))
    job = upload_and_end(stack, {"loop.eps": data}, postScriptOptions={"resolution": 72})
    [row] = rows(stack, job, "UploadSuccess")
    assert "rasterised from its embedded TIFF preview" in row["logMessage"]
    assert "rendered from the embedded TIFF preview, not from the PostScript (Ghostscript failed;" in row["logMessage"]
    assert ("Ghostscript could not render the PostScript (Ghostscript ran longer than 1.5 s and was stopped); the "
            "image was made from the file's embedded TIFF preview instead") in aux(row)[0]
    assert (asset(stack, "loop")["type"], asset(stack, "loop")["width"]) == ("Image", 200)


def test_a_huge_bounding_box_is_refused_before_ghostscript_runs(stack, gs, monkeypatch):
    calls = []
    real = ghostscript.render
    monkeypatch.setattr(ghostscript, "render", lambda *a, **k: calls.append(a) or real(*a, **k))
    job = upload_and_end(stack, {"vast.eps": vector_eps(5_000_000, 5_000_000)})
    [row] = rows(stack, job, "UploadSuccess")
    assert "the 5e+06×5e+06 pt page would be" in aux(row)[0] and "Ghostscript was not started" in aux(row)[0]
    assert calls == [] and asset(stack, "vast")["type"] == "PostScript"
