"""pdfOptions and illustratorOptions end to end: PDF and Illustrator files become assets, pages and catalogs."""

from __future__ import annotations

import boto3
import pytest

from tests.integration import cloudfront
from tests.integration.test_api import other_company_key
from tests.integration.test_archives import asset, keys
from tests.integration.test_processing import rows, upload_and_end
from tests.pdf_fixtures import JAVASCRIPT_PDF_CATALOG, POSTSCRIPT_AI, handmade_pdf, pdf_bytes

pyvips = pytest.importorskip("pyvips")
pytest.importorskip("pypdfium2")

SMALL = (144.0, 72.0)  # 2 × 1 inch: 300 × 150 px at 150 ppi


def optimized(stack, found: dict) -> pyvips.Image:
    data = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"],
                                         Key=found["files"]["optimized"]["key"])["Body"].read()
    return pyvips.Image.new_from_buffer(data, "")


def test_rasterize_by_default_makes_a_pdf_asset_page_images_and_a_catalog(stack):
    job = upload_and_end(stack, {"docs/brochure.pdf": pdf_bytes(3, size=SMALL)})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileUpdateCount"], log["totalFileCount"]) == (1, 0, 1)
    document = asset(stack, "brochure")
    assert (document["type"], document["folder"], document["pageCount"]) == ("Pdf", "docs/", 3)
    assert document["files"]["optimized"] is None and document["files"]["master"] is not None
    pages = [asset(stack, f"brochure_{n}") for n in (1, 2, 3)]
    assert document["children"] == [p["assetHandle"] for p in pages]
    for page in pages:
        assert (page["type"], page["folder"], page["parentHandle"]) == ("Image", "docs/", document["assetHandle"])
        assert (page["width"], page["height"]) == (300, 150) and page["files"]["optimized"]["format"] == "ptiff"
        assert page["files"]["master"] is None
    catalog = asset(stack, "brochure_catalog")
    assert catalog["type"] == "Catalog" and catalog["children"] == document["children"]
    assert catalog["parentHandle"] == document["assetHandle"]
    # One row per asset; only the PDF counts as a file of the job.
    created = rows(stack, job, "UploadSuccess")
    assert [r["assetName"] for r in created] == ["brochure", "brochure_1", "brochure_2", "brochure_3",
                                                 "brochure_catalog"]
    assert "PDF, 3 pages, 3 of 3 pages rendered at 150 ppi, catalog brochure_catalog" in created[0]["logMessage"]
    assert created[0]["assetType"] == "Pdf" and created[2]["assetType"] == "MasterImage"
    assert created[2]["logMessage"].startswith("Page 2 of docs/brochure.pdf was rendered into asset brochure_2")
    page_log = stack.call("GET", f"/v1/assets/{pages[1]['assetHandle']}/job-logs").body["jobLogArray"]
    assert [r["logType"] for r in page_log] == ["UploadSuccess"] and "Page 2" in page_log[0]["logMessage"]


def test_none_stores_the_pdf_only_and_thumbnail_renders_small_pages_without_a_catalog(stack):
    upload_and_end(stack, {"plain.pdf": pdf_bytes(2, size=SMALL)}, pdfOptions={"process": "None"})
    plain = asset(stack, "plain")
    assert (plain["type"], plain["pageCount"], plain["children"]) == ("Pdf", 2, [])
    assert stack.call("GET", "/v1/assets", query={"name": "plain_1"}).body["assetArray"] == []
    job = upload_and_end(stack, {"thumbs.pdf": pdf_bytes(2)}, pdfOptions={"process": "Thumbnail"})
    first = asset(stack, "thumbs_1")
    assert (first["width"], first["height"]) == (181, 256)
    assert stack.call("GET", "/v1/assets", query={"name": "thumbs_catalog"}).body["assetArray"] == []
    assert [r["assetType"] for r in rows(stack, job, "UploadSuccess")][1:] == ["Thumbnail", "Thumbnail"]


def test_a_reupload_updates_the_pages_and_the_catalog_instead_of_duplicating_them(stack):
    upload_and_end(stack, {"cat.pdf": pdf_bytes(3, size=SMALL)})
    before = {n: asset(stack, n)["assetHandle"] for n in ("cat", "cat_1", "cat_2", "cat_catalog")}
    job = upload_and_end(stack, {"cat.pdf": pdf_bytes(["new one", "new two"], size=SMALL)},
                         pdfOptions={"resolution": 72})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileUpdateCount"]) == (0, 1)
    assert {r["assetName"] for r in rows(stack, job, "FileUpdated")} == set(before)
    assert rows(stack, job, "UploadSuccess") == []
    after = {n: asset(stack, n) for n in before}
    assert {n: a["assetHandle"] for n, a in after.items()} == before
    assert (after["cat_1"]["width"], after["cat"]["pageCount"]) == (144, 2)
    assert after["cat"]["children"] == after["cat_catalog"]["children"] == [before["cat_1"], before["cat_2"]]
    assert stack.call("GET", "/v1/assets", query={"name": "cat_1-1"}).body["assetArray"] == []
    # The third page is not part of the document any more: kept, no longer linked to it.
    third = asset(stack, "cat_3")
    assert third["parentHandle"] is None and third["files"]["optimized"] is not None
    [row] = [r for r in rows(stack, job, "FileUpdated") if r["assetName"] == "cat"]
    assert "page images of an earlier upload detached (kept): 1" in row["logMessage"]


def test_a_reupload_invalidates_the_cdn_paths_of_the_page_images_too(stack, monkeypatch):
    # The page images are replaced by services/ingest/derived.py: their cached renditions must go.
    upload_and_end(stack, {"cdn.pdf": pdf_bytes(2, size=SMALL)})
    with cloudfront.distribution(monkeypatch, "derived-test") as distribution:
        upload_and_end(stack, {"cdn.pdf": pdf_bytes(["again one", "again two"], size=SMALL)})
    paths = {p for batch in cloudfront.invalidations(distribution) for p in batch}
    assert {f"/is/image/{stack.company}/cdn_1*", f"/is/image/{stack.company}/cdn_2*",
            f"/is/image/{stack.company}/cdn*"} <= paths


def test_search_words_are_found_per_company_and_links_become_image_maps(stack):
    options = {"pdfOptions": {"extractSearchWords": True, "extractLinks": True, "resolution": 72}}
    upload_and_end(stack, {"spring.pdf": pdf_bytes(["Spring SALE red shoes", "Blue hats"], links=True)}, **options)
    spring = asset(stack, "spring")
    assert spring["searchWords"] == ["spring", "sale", "red", "shoes", "blue", "hats"]
    page_one = asset(stack, "spring_1")
    assert page_one["searchWords"] == ["spring", "sale", "red", "shoes"]
    assert {(a["href"], a["x"], a["y"], a["width"], a["height"]) for a in page_one["imageMap"]} == {
        ("https://example.com/sale", 10, 842 - 40, 100, 30), ("#page=2", 200, 842 - 30, 50, 20)}

    def found(text: str, key: str = "default") -> set[str]:
        response = stack.call("GET", "/v1/assets", query={"text": text}, key=key)
        assert response.status == 200, response.body
        return {a["name"] for a in response.body["assetArray"]}

    assert found("SALE") == {"spring", "spring_1"}
    assert found("hats blue") == {"spring", "spring_2"}
    assert found("red hats") == {"spring"}  # every word, on the same asset
    assert found("nothing") == set()
    # Another company's words are not visible, and its own search finds only its assets.
    rival = other_company_key(stack)
    opened = stack.open_job("rival", key=rival)
    stack.post_file(opened.body["upload"], "rival.pdf", pdf_bytes(["secret sale"], size=SMALL))
    assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end", key=rival).status == 202
    stack.drain()
    assert found("secret") == set()  # the rival job did not extract words
    opened = stack.open_job("rival2", key=rival, pdfOptions={"extractSearchWords": True, "process": "None"})
    stack.post_file(opened.body["upload"], "rival2.pdf", pdf_bytes(["secret sale"], size=SMALL))
    stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end", key=rival)
    stack.drain()
    assert found("secret") == set() and found("secret", rival) == {"rival2"}
    assert found("sale") == {"spring", "spring_1"} and found("sale", rival) == {"rival2"}
    assert stack.call("GET", "/v1/assets", query={"text": "!!"}).status == 400


def test_reuploading_without_words_removes_them_from_the_index(stack):
    upload_and_end(stack, {"w.pdf": pdf_bytes(["gone word"], size=SMALL)},
                   pdfOptions={"extractSearchWords": True, "process": "None"})
    assert [a["name"] for a in stack.call("GET", "/v1/assets", query={"text": "gone"}).body["assetArray"]] == ["w"]
    upload_and_end(stack, {"w.pdf": pdf_bytes(["gone word"], size=SMALL)}, pdfOptions={"process": "None"})
    assert stack.call("GET", "/v1/assets", query={"text": "gone"}).body["assetArray"] == []


def test_job_options_apply_to_every_page(stack):
    job = upload_and_end(stack, {"sharp.pdf": pdf_bytes(2, size=SMALL)},
                         unsharpMaskOptions={"amount": 1.5, "radius": 1.0, "threshold": 0},
                         manualCropOptions={"left": 10, "top": 0, "right": 0, "bottom": 0},
                         pdfOptions={"colorspace": "Gray"})
    pages = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"].startswith("sharp_")
             and r["assetName"] != "sharp_catalog"]
    assert len(pages) == 2
    for row in pages:
        assert "unsharpMaskOptions" in row["logMessage"] and "colorspace Gray" in row["logMessage"]
    page = asset(stack, "sharp_1")
    assert page["width"] == 290 and page["cropRect"]["xOffset"] == 10
    assert optimized(stack, page).bands == 1


def test_illustrator_files_of_both_kinds(stack):
    job = upload_and_end(stack, {"art/logo.ai": pdf_bytes(1, size=SMALL, background=False),
                                 "art/old.ai": POSTSCRIPT_AI},
                         illustratorOptions={"alpha": True, "resolution": 72})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileWarningCount"], log["fileErrorCount"]) == (2, 1, 0)
    logo, old = asset(stack, "logo"), asset(stack, "old")
    assert (logo["type"], logo["pageCount"], len(logo["children"])) == ("Illustrator", 1, 1)
    page = asset(stack, "logo_1")
    image = optimized(stack, page)
    assert (page["width"], page["height"], image.bands) == (144, 72, 4)
    assert image(1, 1)[3] == 0  # alpha: the unpainted artboard stays transparent
    assert stack.call("GET", "/v1/assets", query={"name": "logo_catalog"}).body["assetArray"] == []
    assert (old["type"], old["children"], old["files"]["optimized"]) == ("Illustrator", [], None)
    [warned] = stack.job_log(job, logTypeArray="UploadWarning")["detailArray"]
    assert warned["assetName"] == "old" and "not PDF-compatible" in warned["auxArray"][0]["logMessage"]


def test_a_pdf_with_javascript_is_processed_with_a_warning(stack):
    job = upload_and_end(stack, {"script.pdf": handmade_pdf(JAVASCRIPT_PDF_CATALOG)})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileWarningCount"]) == (1, 1)
    row = rows(stack, job, "UploadSuccess")[0]
    assert "contains JavaScript; it was not run" in row["auxArray"][0]["logMessage"]
    assert asset(stack, "script_1")["type"] == "Image"


@pytest.mark.parametrize(("data", "reason"), [
    (pdf_bytes(2, size=SMALL, encrypt="pw"), "the PDF is encrypted"),
    (pdf_bytes(3, size=SMALL)[:-900], "truncated"),
    (b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n", "the PDF is damaged"),
])
def test_hostile_pdfs_are_refused_once_and_kept_in_quarantine(stack, data, reason):
    job = upload_and_end(stack, {"bad/hostile.pdf": data})
    [row] = rows(stack, job, "UploadError")
    assert row["logMessage"].startswith("bad/hostile.pdf could not be processed") and reason in row["logMessage"]
    assert "kept at s3://" in row["logMessage"]
    assert len(stack.job_log(job)["detailArray"]) == 3  # begin, the error, end
    assert any(k.endswith("/hostile.pdf") for k in keys(stack, "IncomingBucket", "quarantine/"))
    assert stack.call("GET", "/v1/assets", query={"folder": "bad/"}).body["assetArray"] == []


def test_process_none_stores_an_unreadable_pdf_with_a_warning(stack):
    job = upload_and_end(stack, {"locked.pdf": pdf_bytes(1, encrypt="pw")}, pdfOptions={"process": "None"})
    [row] = rows(stack, job, "UploadSuccess")
    assert "stored as it is, but it could not be read: the PDF is encrypted" in row["auxArray"][0]["logMessage"]
    assert asset(stack, "locked")["pageCount"] is None


def test_page_limit_and_oversized_pages(stack, monkeypatch):
    from openips.services.ingest import documents

    monkeypatch.setattr(documents, "MAX_PAGES", 3)
    job = upload_and_end(stack, {"long.pdf": pdf_bytes(5, size=SMALL)}, pdfOptions={"pdfCatalog": False})
    row = rows(stack, job, "UploadSuccess")[0]
    assert "long.pdf has 5 pages; only the first 3 were considered" in row["auxArray"][0]["logMessage"]
    assert len(asset(stack, "long")["children"]) == 3
    assert stack.call("GET", "/v1/assets", query={"name": "long_4"}).body["assetArray"] == []

    # Page 2 at 2400 ppi would be 33333 × 33333 pixels: refused alone, page 1 is kept.
    huge = _two_sizes()
    job = upload_and_end(stack, {"mixed.pdf": huge}, pdfOptions={"resolution": 2400, "pdfCatalog": False})
    assert rows(stack, job, "UploadError") == []  # IPS's own type for a page that could not be ripped
    [refused] = rows(stack, job, "PdfRipError")
    assert refused["logMessage"].startswith("Page 2 of mixed.pdf was not rendered: page 2 would be 33333×33333")
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileErrorCount"], log["fileWarningCount"]) == (1, 0, 1)
    assert len(asset(stack, "mixed")["children"]) == 1


def _two_sizes() -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=(36, 36))
    c.drawString(2, 2, "a")
    c.showPage()
    c.setPageSize((1000, 1000))
    c.drawString(2, 2, "b")
    c.showPage()
    c.save()
    return buffer.getvalue()


def test_more_rows_than_one_transaction_holds_are_all_written_in_order(stack):
    job = upload_and_end(stack, {"tall.pdf": pdf_bytes(101, size=SMALL)}, pdfOptions={"resolution": 5})
    log = stack.job_log(job)
    names = [r["assetName"] for r in log["detailArray"] if r["logType"] == "UploadSuccess"]
    assert names == ["tall", *(f"tall_{n}" for n in range(1, 101)), "tall_catalog"]  # 100 pages considered
    assert log["detailTotalRows"] == 1 + 102 + 1 and log["fileSuccessCount"] == 1
    assert "tall.pdf has 101 pages; only the first 100" in log["detailArray"][1]["auxArray"][0]["logMessage"]
