"""Thumbnails end to end: made beside the pyramid TIFF, presigned by the asset routes, never failing a file."""

from __future__ import annotations

import io

import boto3
import pytest
import requests

from tests.integration.test_processing import jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")
from PIL import Image


def find(stack, name: str) -> dict:
    [found] = stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"]
    return found


def fetch(entry: dict) -> tuple[Image.Image, requests.Response]:
    response = requests.get(entry["url"], timeout=10)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()  # every pixel decoded
    return image, response


def png_with_transparency(width: int = 500, height: int = 400) -> bytes:
    rgb = (pyvips.Image.black(width, height, bands=3) + [30, 160, 60]).cast("uchar")
    alpha = (pyvips.Image.xyz(width, height)[0] * (255 / (width - 1))).cast("uchar")
    return rgb.bandjoin(alpha).copy(interpretation="srgb").pngsave_buffer()


def tiff(width: int = 600, height: int = 900) -> bytes:
    return (pyvips.Image.black(width, height, bands=3) + [200, 40, 40]).cast("uchar").copy(
        interpretation="srgb").tiffsave_buffer()


def test_jpeg_png_and_tiff_get_a_thumbnail_whose_presigned_url_downloads_an_image(stack):
    job = upload_and_end(stack, {"red.jpg": jpeg(800, 600, shade=200), "leaf.png": png_with_transparency(),
                                 "tall.tif": tiff()})
    assert stack.job_log(job)["fileWarningCount"] == 0

    expected = {"red": ("jpeg", "JPEG", "RGB", (256, 192)), "leaf": ("webp", "WEBP", "RGBA", (256, 205)),
                "tall": ("jpeg", "JPEG", "RGB", (171, 256))}
    listed = {a["name"]: a for a in stack.call("GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"]}
    for name, (fmt, pil_format, mode, size) in expected.items():
        got = find(stack, name)
        thumbnail = got["files"]["thumbnail"]
        assert listed[name]["files"]["thumbnail"]["key"] == thumbnail["key"]  # the list route has it too
        assert thumbnail["format"] == fmt
        assert thumbnail["key"] == f"{stack.company}/{got['assetHandle']}/thumbnail"  # beside optimized.tif
        assert got["files"]["optimized"]["key"] == f"{stack.company}/{got['assetHandle']}/optimized.tif"
        image, response = fetch(thumbnail)
        assert (image.format, image.mode, image.size) == (pil_format, mode, size), name
        assert response.headers["Content-Type"] == f"image/{fmt}"
        assert "attachment" not in response.headers.get("Content-Disposition", "")  # shown inline
    leaf, _ = fetch(find(stack, "leaf")["files"]["thumbnail"])
    assert leaf.getchannel("A").getextrema()[0] < 10  # transparency kept, not flattened


def test_a_re_upload_with_overwrite_replaces_the_thumbnail(stack):
    upload_and_end(stack, {"chair.jpg": jpeg(400, 300, shade=10)})
    first = find(stack, "chair")["files"]["thumbnail"]
    before, _ = fetch(first)
    assert before.getpixel((50, 50))[0] < 30

    upload_and_end(stack, {"chair.jpg": jpeg(300, 500, shade=240)})
    second = find(stack, "chair")["files"]["thumbnail"]
    after, _ = fetch(second)

    assert second["key"] == first["key"]
    assert after.size == (154, 256) and after.getpixel((50, 50))[0] > 220
    bucket = stack.resources.names["AssetsBucket"]
    versions = boto3.client("s3").list_object_versions(Bucket=bucket, Prefix=second["key"])["Versions"]
    assert [v["IsLatest"] for v in versions].count(True) == 1 and len(versions) == 2  # overwritten in place


def test_a_re_upload_that_turns_transparent_switches_to_webp_under_the_same_key(stack):
    stack.call("PATCH", f"/v1/admin/companies/{stack.company}", {"overwriteMode": "OverwriteAnyExt"},
               key=stack.admin_key)
    upload_and_end(stack, {"logo.jpg": jpeg()})
    first = find(stack, "logo")["files"]["thumbnail"]
    upload_and_end(stack, {"logo.png": png_with_transparency()})
    second = find(stack, "logo")["files"]["thumbnail"]

    assert (first["format"], second["format"], second["key"]) == ("jpeg", "webp", first["key"])
    assert fetch(second)[0].format == "WEBP"


@pytest.mark.parametrize("failure", [RuntimeError("libvips fell over"), MemoryError()])
def test_a_file_whose_thumbnail_fails_succeeds_with_a_warning_and_no_thumbnail(stack, monkeypatch, failure):
    upload_and_end(stack, {"shoe.jpg": jpeg(shade=10)})  # a first upload with a thumbnail
    assert find(stack, "shoe")["files"]["thumbnail"] is not None

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr("openips.services.ingest.raster.make_thumbnail", broken)
    job = upload_and_end(stack, {"shoe.jpg": jpeg(shade=240)})

    log = stack.job_log(job)
    assert (log["fileUpdateCount"], log["fileErrorCount"], log["fileWarningCount"]) == (1, 0, 1)
    [row] = rows(stack, job, "FileUpdated")
    [warning] = row["auxArray"]
    assert warning["logType"] == "UploadWarning" and "no thumbnail was made" in warning["logMessage"]
    shoe = find(stack, "shoe")
    assert shoe["files"]["thumbnail"] is None  # not the previous upload's picture
    assert shoe["files"]["optimized"] is not None and shoe["updatedJobHandle"] == job
    [korean] = [d for d in stack.job_log(job, locale="ko-KR")["detailArray"] if d["logType"] == "FileUpdated"]
    assert "썸네일을 만들지 못했습니다" in korean["auxArray"][0]["logMessage"]


def test_an_asset_stored_before_thumbnails_existed_reads_with_none(stack):
    upload_and_end(stack, {"old.jpg": jpeg()})
    handle = find(stack, "old")["assetHandle"]
    table = boto3.resource("dynamodb").Table(stack.resources.names["JobsTable"])
    from openips.adapters.dynamodb import keys

    table.update_item(Key=keys.asset_key(handle), UpdateExpression="REMOVE thumbnail_key, thumbnail_format")

    got = stack.call("GET", f"/v1/assets/{handle}")
    assert got.status == 200 and got.body["files"]["thumbnail"] is None
    assert got.body["files"]["optimized"] is not None


def test_pdf_pages_get_thumbnails_and_the_pdf_itself_none(stack):
    from tests.pdf_fixtures import pdf_bytes

    pytest.importorskip("pypdfium2")
    upload_and_end(stack, {"brochure.pdf": pdf_bytes(2, size=(144.0, 72.0))})

    assert find(stack, "brochure")["files"]["thumbnail"] is None
    page = find(stack, "brochure_2")
    image, _ = fetch(page["files"]["thumbnail"])
    assert (page["files"]["thumbnail"]["format"], image.size) == ("jpeg", (256, 128))
    assert find(stack, "brochure_catalog")["files"]["thumbnail"] is None


def test_a_decompression_bomb_is_refused_before_any_thumbnail_is_attempted(stack, monkeypatch, tmp_path):
    """A PNG whose header claims 100000×100000 pixels is refused from its header (MaxImagePixels): no decode,
    no pyramid, and the thumbnail step never sees it."""
    import struct
    import zlib

    calls: list[object] = []
    from openips.services.ingest import raster

    real = raster.make_thumbnail
    monkeypatch.setattr(raster, "make_thumbnail", lambda *a, **k: calls.append(a) or real(*a, **k))
    good = Image.new("RGB", (4, 4), (255, 0, 0))
    buffer = io.BytesIO()
    good.save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", 100_000, 100_000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))

    job = upload_and_end(stack, {"bomb.png": bytes(data), "fine.jpg": jpeg()})

    [error] = rows(stack, job, "UploadError")
    assert "bomb.png" in error["logMessage"] and "10000000000" in error["logMessage"].replace(",", "")
    assert len(calls) == 1  # fine.jpg only
    assert stack.call("GET", "/v1/assets", query={"name": "bomb"}).body["assetArray"] == []


def test_the_openapi_document_describes_the_thumbnail(stack):
    schemas = stack.call("GET", "/v1/openapi.json", key=None).body["components"]["schemas"]
    thumbnail = schemas["AssetFiles"]["properties"]["thumbnail"]
    assert {"$ref": "#/components/schemas/AssetFile"} in thumbnail["anyOf"] and {"type": "null"} in thumbnail["anyOf"]
    assert "thumbnail" not in schemas["AssetFiles"].get("required", [])


def test_a_video_poster_gets_a_thumbnail_and_a_video_without_one_none(stack):
    pytest.importorskip("av")
    from tests.video_files import make_video

    upload_and_end(stack, {"clip.mp4": make_video(width=96, height=64)})
    upload_and_end(stack, {"silent.mp4": make_video(width=96, height=64)},
                   mediaOptions={"generateThumbnail": False})

    image, _ = fetch(find(stack, "clip")["files"]["thumbnail"])
    assert (image.format, image.size) == ("JPEG", (96, 64))  # the poster's size: never upscaled
    assert find(stack, "silent")["files"]["thumbnail"] is None
