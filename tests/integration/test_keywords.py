"""xmpKeywords end to end: job option → asset record (merged on update) and the optimized TIFF's XMP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import boto3
import pytest

pyvips = pytest.importorskip("pyvips")

from tests.integration.test_options import asset  # noqa: E402
from tests.integration.test_processing import jpeg, rows, upload_and_end  # noqa: E402

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"



def tiff_subject(stack, entry: dict) -> list[str]:
    data = boto3.client("s3").get_object(Bucket=stack.resources.names["AssetsBucket"], Key=entry["key"])["Body"].read()
    xmp = pyvips.Image.new_from_buffer(data, "").get("xmp-data")
    return [li.text or "" for li in ET.fromstring(xmp.rstrip(b"\x00")).findall(f".//{DC}subject/{RDF}Bag/{RDF}li")]


def test_keywords_reach_the_asset_and_the_optimized_tiff_and_merge_on_update(stack):
    job = upload_and_end(stack, {"shoe.jpg": jpeg()}, xmpKeywords="sale,red\\, blue,shoes")
    first = asset(stack, "shoe")
    assert first["xmpKeywords"] == ["sale", "red, blue", "shoes"]
    assert tiff_subject(stack, first["files"]["optimized"]) == ["sale", "red, blue", "shoes"]
    assert not rows(stack, job, "UploadWarning")  # applied now: no "not applied yet" warning
    assert "xmpKeywords: 3 keyword(s)" in rows(stack, job, "UploadSuccess")[0]["logMessage"]

    # A second job's keywords are merged into the asset's (spec §9.7), repeats dropped.
    upload_and_end(stack, {"shoe.jpg": jpeg(shade=30)}, xmpKeywords="shoes, summer ")
    again = asset(stack, "shoe")
    assert again["assetHandle"] == first["assetHandle"]
    assert again["xmpKeywords"] == ["sale", "red, blue", "shoes", "summer"]
    # The new TIFF is made from the new upload: its XMP has that job's keywords.
    assert tiff_subject(stack, again["files"]["optimized"]) == ["shoes", "summer"]

    # A job without keywords leaves them as they are.
    upload_and_end(stack, {"shoe.jpg": jpeg()})
    assert asset(stack, "shoe")["xmpKeywords"] == ["sale", "red, blue", "shoes", "summer"]


def test_too_many_keywords_refuse_the_job(stack):
    opened = stack.open_job(xmpKeywords=",".join(str(i) for i in range(1001)))
    assert opened.status == 400 and opened.fault_code == 30001
    assert "xmpKeywords" in opened.body["fault"]["reason"]
