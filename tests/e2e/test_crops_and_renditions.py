"""Done when (issue 18), against ``openips local up`` over HTTP: one job with three smart-crop sizes and
two video encodings makes the crops, served by delivery as ``<asset>:<name>``, and the renditions,
downloadable from the video asset; the job ends once, after all of them."""

from __future__ import annotations

import io

import pytest
import requests

from tests.e2e.test_local_stack import api, post, wait_until_ended

pyvips = pytest.importorskip("pyvips")
av = pytest.importorskip("av")

from tests.video_files import make_video  # noqa: E402

CROPS = [{"name": "square", "width": 300, "height": 300, "type": "Image"},
         {"name": "banner", "width": 900, "height": 300, "type": "Image"},
         {"name": "tall", "width": 300, "height": 600, "type": "Image"}]
MEDIA = {"videoEncodingPresetsArray": ["mp4-h264-360p"],
         "videoEncodingArray": [{"name": "small-vp9", "fileSuffix": "_s", "videoCodec": "vp9", "width": 48,
                                "height": 48, "videoBitrate": 300, "audioBitrate": 64}]}


def scene() -> bytes:
    """A grey 1200×800 picture with a red disc near its top right corner: what attention keeps."""
    grey = (pyvips.Image.black(1200, 800, bands=3) + [128, 128, 128]).cast("uchar")
    disc = pyvips.Image.black(1200, 800).draw_circle(255, 1000, 250, 120, fill=True) > 0
    return disc.bandjoin([disc, disc]).ifthenelse([220, 20, 30], grey).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer(Q=92)


def test_one_job_makes_three_smart_crops_served_by_delivery_and_two_video_renditions(local_stack: dict) -> None:
    body = {"jobName": "crops-and-clips", "uploadParams": {
        "overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None",
        "autoSmartCropOptionsArray": CROPS, "mediaOptions": MEDIA}}
    opened = api(local_stack, "POST", "/v1/upload-jobs", json=body)
    assert opened.status_code == 201, opened.text
    job = opened.json()
    assert post(job["upload"], "look/e2e-crops-scene.jpg", scene()).status_code in (200, 204)
    clip = make_video(width=96, height=64, frames=25, audio="aac")
    assert post(job["upload"], "look/e2e-renditions-clip.mp4", clip).status_code in (200, 204)
    assert api(local_stack, "POST", f"/v1/upload-jobs/{job['jobHandle']}/end").status_code == 202

    log = wait_until_ended(local_stack, job["jobHandle"])
    # The stack is shared with the other end-to-end tests: the names are this test's own.
    # Two files and two renditions, each accounted for once.
    assert (log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (4, 4, 0), log

    found = {a["name"]: a for a in api(local_stack, "GET", "/v1/assets",
                                       params={"jobHandle": job["jobHandle"]}).json()["assetArray"]}
    crops = {c["name"]: c for c in found["e2e-crops-scene"]["smartCrops"]}
    assert list(crops) == ["square", "banner", "tall"]
    for name, crop in crops.items():
        answer = requests.get(f"{local_stack['imageUrl']}e2e-crops-scene:{name}", params={"wid": 150, "fmt": "png"},
                              timeout=60)
        assert answer.status_code == 200, answer.text
        served = pyvips.Image.new_from_buffer(answer.content, "")
        assert (served.width, served.height) == (150, round(150 * crop["height"] / crop["width"]))
        # The crop's pixels: the master cut where the crop says, scaled as asked.
        master = pyvips.Image.new_from_buffer(scene(), "")
        expected = master.crop(crop["x"], crop["y"], crop["width"], crop["height"]).resize(150 / crop["width"])
        assert (served[0:3].cast("float") - expected.cast("float")).abs().avg() < 4

    renditions = {r["name"]: r for r in found["e2e-renditions-clip"]["files"]["renditions"]}
    assert set(renditions) == {"mp4-h264-360p", "small-vp9"}
    for rendition, codec in ((renditions["mp4-h264-360p"], "h264"), (renditions["small-vp9"], "vp9")):
        data = requests.get(rendition["url"], timeout=30).content
        with av.open(io.BytesIO(data)) as video:
            assert video.streams.video[0].codec_context.name == codec
            assert sum(1 for _ in video.decode(video=0)) == 25
