"""Photoshop uploads end to end: the flattened image as an Image asset, IPS's refusals kept aside."""

from __future__ import annotations

import pytest
import requests

from tests.imaging.test_photoshop import patched, psd_bytes
from tests.integration.test_options import asset
from tests.integration.test_processing import rows, upload_and_end

pyvips = pytest.importorskip("pyvips")



def test_a_psd_becomes_an_image_whose_pyramid_tiff_is_its_flattened_image(stack):
    data = psd_bytes("CMYK", (0, 230, 230, 0), size=(300, 200))
    job = upload_and_end(stack, {"ads/spring.psd": data}, unsharpMaskOptions={"amount": 1.0})
    [row] = rows(stack, job, "UploadSuccess")
    assert "Photoshop document, 300×200, pyramid TIFF" in row["logMessage"]
    assert "Photoshop CMYK 8-bit document, 300×200; flattened image: its stored composite" in row["logMessage"]
    assert "converted CMYK to sRGB" in row["logMessage"]  # the colour step sees a CMYK image
    spring = asset(stack, "spring")
    assert spring["type"] == "Image" and (spring["width"], spring["height"]) == (300, 200)
    assert requests.get(spring["files"]["master"]["url"], timeout=10).content == data  # the PSD, byte for byte
    tiff = pyvips.Image.new_from_buffer(requests.get(spring["files"]["optimized"]["url"], timeout=10).content, "")
    red, green, blue = tiff.getpoint(150, 100)[:3]
    assert red > 200 and green < 120 and blue < 120  # magenta + yellow ink is red on screen


@pytest.mark.parametrize(("data", "reason"), [
    (patched(psd_bytes(), 4, 2), "large document (PSB)"),
    (patched(psd_bytes(), 24, 9), "colour mode is Lab"),
    (patched(psd_bytes(), 22, 32), "32 bits per channel"),
    (psd_bytes()[:70], "damaged"),
])
def test_what_ips_refuses_is_an_upload_error_and_kept(stack, data, reason):
    job = upload_and_end(stack, {"refused.psd": data})
    [row] = rows(stack, job, "UploadError")
    assert row["logMessage"].startswith("refused.psd could not be processed") and reason in row["logMessage"]
    assert "quarantine/" in row["logMessage"]
