"""Done when (issue 17): a job's uploaded image is visible at ``/is/image/<company>/<asset>?wid=500&fmt=webp``
on the local stack, over HTTP, with the pixels pyvips makes doing the same on the master."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.test_local_stack import api, open_job, post, wait_until_ended

pyvips = pytest.importorskip("pyvips")

# Between two lossy encodings of one resampling (0..255 per channel): the mean difference, and the share
# of values further apart than FAR (hard edges, where the two resamplers' phases differ by a fraction of a pixel).
MEAN_TOLERANCE = 3.0
FAR = 32
FAR_SHARE = 0.01


def master_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    """Gradients with hard-edged blocks: a wrong scale, offset, flip or turn shows in the pixels."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    image = (x * (255 / width)).bandjoin([y * (255 / height), ((x / 100).floor() + (y / 100).floor()) % 2 * 200 + 20])
    block = (x > width * 0.6) & (x < width * 0.8) & (y > height * 0.1) & (y < height * 0.3)
    image = block.ifthenelse([250, 20, 20], image)
    return image.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=95)


def difference(served: pyvips.Image, expected: pyvips.Image) -> tuple[float, float]:
    """(mean difference, share of values more than FAR apart)."""
    assert (served.width, served.height) == (expected.width, expected.height)
    delta = (served.flatten()[0:3].cast("float") - expected.flatten()[0:3].cast("float")).abs().copy_memory()
    return delta.avg(), (delta > FAR).avg() / 255


@pytest.fixture(scope="module")
def uploaded(local_stack) -> dict:
    data = master_jpeg()
    opened = open_job(local_stack, name="delivery")
    assert post(opened["upload"], "shoes/runner.jpg", data).status_code in (200, 204)
    assert api(local_stack, "POST", f"/v1/upload-jobs/{opened['jobHandle']}/end").status_code == 202
    log = wait_until_ended(local_stack, opened["jobHandle"])
    assert log["fileSuccessCount"] == 1, log
    return {"master": pyvips.Image.new_from_buffer(data, ""), "data": data}


def test_the_uploaded_image_is_served_as_webp_at_500_px_like_pyvips_thumbnail(local_stack, uploaded):
    url = f"{local_stack['imageUrl']}runner"
    assert url == f"{local_stack['apiUrl']}/is/image/{local_stack['companyHandle']}/runner"

    response = requests.get(url, params={"wid": 500, "fmt": "webp"}, timeout=60)

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    served = pyvips.Image.new_from_buffer(response.content, "")
    # pyvips doing the same: the 500 px thumbnail of the master, saved as WebP at IS's default quality (80)
    thumbnail = pyvips.Image.thumbnail_buffer(uploaded["data"], 500)
    expected = pyvips.Image.new_from_buffer(thumbnail.webpsave_buffer(Q=80), "")
    assert (served.width, served.height) == (500, 375)
    mean, far = difference(served, expected)
    assert mean <= MEAN_TOLERANCE and far <= FAR_SHARE, (mean, far)
    # and a browser's revalidation is a 304
    again = requests.get(url, params={"wid": 500, "fmt": "webp"}, timeout=60,
                         headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_crop_flip_rotate_and_size_give_pyvips_pixels_and_the_raw_query_reaches_the_grammar(local_stack, uploaded):
    # The commas and the order travel as sent (rawQueryString), not re-encoded by the local server.
    response = requests.get(f"{local_stack['imageUrl']}runner?crop=800,100,600,400&flip=lr&rotate=90&wid=200&fmt=png",
                            timeout=60)

    assert response.status_code == 200, response.text
    served = pyvips.Image.new_from_buffer(response.content, "")
    layer = uploaded["master"].crop(800, 100, 600, 400).fliphor().rot90()  # 400 × 600 after the turn
    expected = layer.resize(200 / layer.width, kernel="lanczos3")
    mean, far = difference(served, expected)
    assert mean <= MEAN_TOLERANCE and far <= FAR_SHARE, (mean, far)
    assert served.getpoint(130, 140)[0] > 200 and served.getpoint(130, 140)[1] < 60  # the red block, turned


def test_an_unknown_asset_and_a_bad_modifier_are_is_style_text_answers(local_stack, uploaded):
    missing = requests.get(f"{local_stack['imageUrl']}nothing", params={"wid": 100}, timeout=60)
    bad = requests.get(f"{local_stack['imageUrl']}runner", params={"wid": "huge"}, timeout=60)

    assert (missing.status_code, missing.text) == (404, "Image not found\n")
    assert bad.status_code == 403 and bad.text.startswith("Invalid modifier: ")
    assert bad.headers["Content-Type"].startswith("text/plain")
