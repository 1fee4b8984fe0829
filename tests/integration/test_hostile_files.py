"""Hostile files end to end: each is one row saying what is wrong with it, and the job ends.

Each of these once left a file unaccounted for or a job open (a foreign exception retried until the
attempts ran out), or made an asset with black pixels, or took minutes and gigabytes to refuse.
"""

from __future__ import annotations

import pytest

from tests.imaging.hostile_files import (
    chained_tiff,
    looping_tiff,
    parent_listing_pdf,
    progressive_jpeg_header,
    self_listing_pdf,
    strip_beyond_eof_tiff,
    tgz_with_corrupt_stream,
    truncated_tiff,
    zip_with_bad_members,
)
from tests.imaging.test_hostile_files import opened_pages  # noqa: F401 - a fixture
from tests.integration.test_archives import UNCOMPRESS, asset, keys
from tests.integration.test_processing import jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")
pytest.importorskip("pypdfium2")

PAGE_TREE = "the PDF is damaged: its page tree declares 2 pages, but page {} cannot be found in it"


def file_rows(stack, job: str, path: str) -> list[dict]:
    """Every row of the job that names ``path`` (its own row, and rows of its pages or members)."""
    return [d for d in stack.job_log(job)["detailArray"]
            if d["logType"] not in ("BeginUpload", "EndUpload") and d["logMessage"].startswith(path)]


def ended(stack, job: str, success: int, error: int, total: int) -> None:
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == \
        ("EndUpload", success, error, total)
    assert stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"] == []


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("tree.pdf", self_listing_pdf(), PAGE_TREE.format(2)),
    ("parent.pdf", parent_listing_pdf(), PAGE_TREE.format(1)),
    ("cut.tif", truncated_tiff(), "the TIFF is cut off or damaged: strip 6 of 10 of its 200×100 image lies at "
                                  "bytes 30220–36219, beyond the end of the file (30220 bytes)"),
    ("far.tif", strip_beyond_eof_tiff(), "the TIFF is cut off or damaged: strip 1 of 10 of its 200×100 image lies "
                                         "at bytes 1000000–1005999, beyond the end of the file"),
    ("loop.tif", looping_tiff(), "the TIFF is damaged: its chain of directories (pages) loops back on itself"),
    ("bomb.jpg", progressive_jpeg_header(31000, 31000),
     "progressive JPEG of 31000×31000 needs about 2749 MiB to decode (a progressive JPEG is held whole in memory); "
     "the limit is 512 MiB; save it as a baseline (non-progressive) JPEG"),
])
def test_a_hostile_file_is_one_upload_error_naming_the_problem_and_the_job_ends(stack, name, data, reason):
    job = upload_and_end(stack, {f"bad/{name}": data, "good.jpg": jpeg()})
    [row] = file_rows(stack, job, f"bad/{name}")
    assert row["logType"] == "UploadError"
    assert row["logMessage"].startswith(f"bad/{name} could not be processed: {reason}")
    assert "kept at s3://" in row["logMessage"]
    assert stack.call("GET", "/v1/assets", query={"folder": "bad/"}).body["assetArray"] == []
    assert any(k.endswith(f"/{name}") for k in keys(stack, "IncomingBucket", "quarantine/"))
    ended(stack, job, 1, 1, 2)  # the good file next to it is processed as usual


def test_a_progressive_jpeg_bomb_is_refused_without_decoding(stack, monkeypatch):
    from openips.imaging import optimize

    decoded: list[object] = []
    monkeypatch.setattr(optimize, "save_pyramid_tiff", lambda *a, **k: decoded.append(a))
    job = upload_and_end(stack, {"bomb.jpg": progressive_jpeg_header(31000, 31000)})
    [row] = file_rows(stack, job, "bomb.jpg")
    assert row["logType"] == "UploadError" and "needs about 2749 MiB to decode" in row["logMessage"]
    assert decoded == []
    ended(stack, job, 0, 1, 1)


def test_a_tiff_of_4000_chained_pages_is_its_first_page_with_a_warning(stack, opened_pages):
    pages = opened_pages
    job = upload_and_end(stack, {"chain.tif": chained_tiff(4000)})
    [row] = file_rows(stack, job, "chain.tif")
    assert row["logType"] == "UploadSuccess" and row["assetName"] == "chain"
    [warning] = row["auxArray"]
    assert warning["logType"] == "UploadWarning"
    assert "multi-page file (more than 64 pages): only page 1 was processed" in warning["logMessage"]
    assert (asset(stack, "chain")["width"], asset(stack, "chain")["height"]) == (1, 1)
    assert pages and all(page is None for page in pages)  # the first page only, never page N of 4000
    ended(stack, job, 1, 0, 1)


def test_a_zip_with_a_corrupt_and_a_deflate64_member_extracts_the_rest(stack):
    archive = zip_with_bad_members(jpeg())
    job = upload_and_end(stack, {"kits/pack.zip": archive}, **UNCOMPRESS)
    [extracted] = file_rows(stack, job, "kits/pack.zip")
    assert extracted["logType"] == "UploadSuccess"
    assert "(ZIP archive) was extracted: 1 files queued for processing; 2 members refused" in \
        extracted["logMessage"]
    refused = {r["logMessage"].split(" ")[0]: r for r in rows(stack, job, "UploadError")}
    assert set(refused) == {"corrupt.jpg", "old.jpg"}
    assert refused["corrupt.jpg"]["logMessage"] == (
        "corrupt.jpg in kits/pack.zip was not extracted: its data is damaged (corrupt compressed data: "
        "Error -3 while decompressing data: invalid block type)")
    assert refused["old.jpg"]["logMessage"] == (
        "old.jpg in kits/pack.zip was not extracted: it is compressed with Deflate64, which openips cannot read; "
        "re-create the archive with standard Deflate compression")
    [good] = file_rows(stack, job, "kits/good.jpg")
    assert good["logType"] == "UploadSuccess" and asset(stack, "good")["folder"] == "kits/"
    for name in ("corrupt", "old"):
        assert stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"] == []
    # the archive and its good member succeed, the two refused members are files in error
    ended(stack, job, 2, 2, 4)
    assert keys(stack, "IncomingBucket", "extracted/") == []


def test_a_tar_gz_whose_stream_breaks_is_refused_whole(stack):
    data = tgz_with_corrupt_stream(jpeg())
    job = upload_and_end(stack, {"pack.tgz": data}, **UNCOMPRESS)
    [row] = file_rows(stack, job, "pack.tgz")
    assert row["logType"] == "UploadError"
    assert row["logMessage"].startswith("pack.tgz could not be processed: the TAR.GZ archive is damaged "
                                        "(Error -3 while decompressing data: invalid block type)")
    assert keys(stack, "IncomingBucket", "extracted/") == []
    ended(stack, job, 0, 1, 1)


def test_archive_member_errors_are_one_type_the_extraction_catches(tmp_path):
    """Without the stack: what ``plan_extraction`` and ``opened`` give ``un_compress_options._extract``."""
    import zipfile

    from openips.services import archives

    path = tmp_path / "pack.zip"
    path.write_bytes(zip_with_bad_members(b"pixels" * 1000))
    plan = archives.plan_extraction(str(path), "zip", path.stat().st_size, archives.Limits(max_member_bytes=10**6))
    assert [m.path for m in plan.members] == ["good.jpg", "corrupt.jpg"]
    assert [name for name, _ in plan.refused] == ["old.jpg"]
    with archives.opened(str(path), "zip") as open_member:
        with open_member(plan.members[0]) as stream:
            assert stream.read() == b"pixels" * 1000
        with pytest.raises(zipfile.BadZipFile, match="corrupt compressed data"), open_member(plan.members[1]) as stream:
            stream.read()
        # Had the plan let a Deflate64 member through, opening it would still be a member error.
        with pytest.raises(archives.MEMBER_READ_ERRORS, match="unsupported compression method"):
            open_member(archives.Member("old.jpg", 6000, "old.jpg"))
