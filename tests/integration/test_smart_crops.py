"""Smart crops end to end: job items → named crops on the asset and in its row → the route that adjusts
them → preserveSmartCrop / ignoreSmartCropGeneration on re-upload → delivery of ``<asset>:<name>``."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest

pyvips = pytest.importorskip("pyvips")
from PIL import Image  # noqa: E402

from openips.models.api import CreateUserRequest  # noqa: E402
from openips.models.domain import Company  # noqa: E402
from openips.services import auth  # noqa: E402
from openips.services.deps import get_deps  # noqa: E402
from tests.integration.conftest import Stack, module_stack  # noqa: E402
from tests.integration.test_processing import rows, upload_and_end  # noqa: E402

DISC = (1000, 250, 120)  # centre x, y and radius of the only interesting thing in the picture
ITEMS = [{"name": "square", "width": 500, "height": 500, "type": "Image"},
         {"name": "banner", "width": 1200, "height": 400, "type": "Image"},
         {"name": "tall", "width": 400, "height": 800, "type": "Image"}]


def picture_png(width: int = 1200, height: int = 800) -> bytes:
    """A grey picture with a red disc near its top right corner."""
    cx, cy, r = DISC
    grey = (pyvips.Image.black(width, height, bands=3) + [128, 128, 128]).cast("uchar")
    disc = pyvips.Image.black(width, height).draw_circle(255, cx, cy, r, fill=True) > 0
    image = disc.bandjoin([disc, disc]).ifthenelse([220, 20, 30], grey).cast("uchar")
    return image.copy(interpretation="srgb").pngsave_buffer()


@pytest.fixture(scope="module")
def world() -> Iterator[dict]:
    with module_stack() as stack:
        deps = get_deps()
        deps.companies.create(Company(company_handle="c-other", name="Other"))
        _, other_key = auth.create_user(deps.companies, deps.accounts, None, CreateUserRequest(
            company_handle="c-other", email="ops@other.example", role="IpsCompanyAdmin"))
        yield {"stack": stack, "other_key": other_key}


def asset(stack: Stack, name: str) -> dict:
    (found,) = stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"]
    return found


def crops_by_name(stack: Stack, name: str) -> dict[str, dict]:
    return {c["name"]: c for c in asset(stack, name)["smartCrops"]}


def keeps_disc(crop: dict) -> bool:
    cx, cy, r = DISC
    return (crop["x"] <= cx - r and cx + r <= crop["x"] + crop["width"]
            and crop["y"] <= cy - r and cy + r <= crop["y"] + crop["height"])


def served(stack: Stack, path: str, query: str = "") -> tuple[int, bytes]:
    answer = stack.invoke("GET", path, key=None, raw_query=query)
    body = answer.get("body") or ""
    return answer["statusCode"], base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()


def test_three_sizes_make_three_named_crops_the_row_names_them_and_delivery_serves_them(world):
    stack = world["stack"]
    job = upload_and_end(stack, {"scene.png": picture_png()}, autoSmartCropOptionsArray=ITEMS)

    crops = crops_by_name(stack, "scene")
    assert list(crops) == ["square", "banner", "tall"]
    assert (crops["square"]["width"], crops["square"]["height"]) == (800, 800)
    assert (crops["banner"]["width"], crops["banner"]["height"]) == (1200, 400)
    assert (crops["tall"]["width"], crops["tall"]["height"]) == (400, 800)
    for crop in crops.values():
        assert keeps_disc(crop), crop
        assert crop["method"] == "attention" and crop["adjusted"] is False and crop["score"] > 0.9
    (row,) = rows(stack, job, "UploadSuccess")
    assert "autoSmartCropOptionsArray: 3 smart crop(s) made" in row["logMessage"]
    assert all(name in row["logMessage"] for name in crops)
    assert not row.get("auxArray")  # no job-creation warning "not applied" any more, no file warning
    assert not rows(stack, job, "UploadWarning")

    # <asset>:<name>, bare: the crop at the item's size; with modifiers: the crop, sized by them.
    square = crops["square"]
    status, body = served(stack, f"/is/image/{stack.company}/scene:square")
    assert status == 200, body[:200]
    image = Image.open(io.BytesIO(body))
    assert image.size == (500, 500)
    rect = f"{square['x']},{square['y']},{square['width']},{square['height']}"
    assert served(stack, f"/is/image/{stack.company}/scene", f"crop={rect}&wid=500&hei=500&fit=crop,1")[1] == body
    status, body = served(stack, "/is/image/Acme/scene%3Abanner", "wid=300&fmt=png")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (300, 100)
    red = Image.open(io.BytesIO(body)).convert("RGB").getpixel((round(300 * DISC[0] / 1200), 100 * DISC[1] // 400))
    assert red[0] > 180 and red[1] < 80  # the disc is where the crop put it
    for unknown in ("scene:nothing", "scene:", ":square", "scene:square:square"):
        assert served(stack, f"/is/image/{stack.company}/{unknown}")[0] == 404


def test_a_portrait_phone_photo_gets_its_crops_in_the_pixels_it_is_seen_in(world):
    # Stored 1200×800 and tagged "turn 90° clockwise" (EXIF 6): displayed 800×1200. The crops, the
    # route's frame and delivery's crop= are all in the displayed pixels.
    stack = world["stack"]
    stored = pyvips.Image.new_from_buffer(picture_png(), "").copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    upload_and_end(stack, {"phone.jpg": stored.jpegsave_buffer(Q=95)}, autoSmartCropOptionsArray=ITEMS)
    crops = crops_by_name(stack, "phone")
    assert (crops["square"]["width"], crops["square"]["height"]) == (800, 800)
    assert (crops["tall"]["width"], crops["tall"]["height"]) == (600, 1200)  # 1:2 in 800×1200, not in 1200×800
    assert all(c["x"] + c["width"] <= 800 and c["y"] + c["height"] <= 1200 for c in crops.values())
    # Turned upright, the disc (top right of the stored picture) lies at the bottom right.
    _, cy, r = DISC
    ux = 800 - cy  # EXIF 6: a stored (x, y) shows at (stored height - y, x)
    tall = crops["tall"]
    assert tall["x"] <= ux - r and ux + r <= tall["x"] + tall["width"], tall
    view = stack.call("GET", f"/v1/assets/{asset(stack, 'phone')['assetHandle']}/smart-crops").body
    assert (view["width"], view["height"]) == (800, 1200)
    status, body = served(stack, f"/is/image/{stack.company}/phone:tall", "wid=100&fmt=png")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (100, 200)


def test_an_adjusted_crop_is_invalidated_by_the_finalize_function_over_the_job_events_queue(world, monkeypatch):
    import json

    from openips.handlers.finalize_job import record_handler
    from tests.integration import cloudfront

    stack = world["stack"]
    upload_and_end(stack, {"cdn.png": picture_png()}, autoSmartCropOptionsArray=ITEMS)
    handle = asset(stack, "cdn")["assetHandle"]
    with cloudfront.distribution(monkeypatch, "smart-crop-test") as distribution:
        adjusted = stack.call("PUT", f"/v1/assets/{handle}/smart-crops/square", {"x": 0, "y": 0, "width": 600,
                                                                                "height": 600})
        assert adjusted.status == 200, adjusted.body
        assert stack.drain()["JobEventsQueue"] == []  # FinalizeJobFunction took the request
        # A message that names anything but renditions is dropped (acknowledged), never sent on.
        record_handler(type("Record", (), {"body": json.dumps({"type": "InvalidateRenditions",
                                                                "paths": ["/v1/admin/*"], "reference": "x"})})())
    [paths] = cloudfront.invalidations(distribution)
    assert f"/is/image/{stack.company}/cdn:square*" in paths and f"/is/image/{stack.company}/cdn%3Asquare*" in paths
    assert all(p.startswith("/is/image/") for p in paths)


def test_hostile_items_are_warnings_never_a_failed_file(world):
    stack = world["stack"]
    many = [{"name": f"c{n}", "width": 1 + n, "height": 100, "type": "Image"} for n in range(150)]
    many[0] = {"name": "bad name/../x", "width": 10, "height": 10, "type": "Image"}
    many[1] = {"name": "c2", "width": 10, "height": 10, "type": "Image"}  # c2 again, later
    job = upload_and_end(stack, {"crowd.png": picture_png(300, 200)}, autoSmartCropOptionsArray=many)

    names = list(crops_by_name(stack, "crowd"))
    assert len(names) == 98 and "c2" in names and "c1" not in names  # 100 at most, two of them refused
    (row,) = rows(stack, job, "UploadSuccess")
    warnings = " ".join(aux["logMessage"] for aux in row["auxArray"])
    assert "150 items, at most 100" in warnings and "item 1" in warnings and "already used" in warnings
    # Sizes of zero and lists over 1000 are refused when the job is opened (the model's bounds).
    for bad in ([{"name": "z", "width": 0, "height": 5, "type": "Image"}], [ITEMS[0]] * 1001):
        opened = stack.open_job("bad", autoSmartCropOptionsArray=bad)
        assert opened.status == 400, opened.body


def test_the_route_adjusts_a_crop_another_tenant_is_refused_and_preserve_keeps_it(world):
    stack, other = world["stack"], world["other_key"]
    upload_and_end(stack, {"kept.png": picture_png()}, autoSmartCropOptionsArray=ITEMS)
    handle = asset(stack, "kept")["assetHandle"]
    path = f"/v1/assets/{handle}/smart-crops"

    listed = stack.call("GET", path)
    assert listed.status == 200 and [c["name"] for c in listed.body["smartCrops"]] == ["square", "banner", "tall"]
    assert (listed.body["width"], listed.body["height"]) == (1200, 800)
    before = listed.body["smartCrops"]
    for call in (stack.call("GET", path, key=other), stack.call("PUT", f"{path}/square", {"x": 0, "y": 0,
                                                                    "width": 10, "height": 10}, key=other)):
        assert call.status == 403 and call.body["fault"]["code"] == 20006, call.body
    assert stack.call("PUT", f"{path}/square", {"x": 500, "y": 0, "width": 800, "height": 800}).status == 400
    assert stack.call("PUT", f"{path}/square", {"x": -1, "y": 0, "width": 8, "height": 8}).status == 400
    assert stack.call("PUT", f"{path}/nothing", {"x": 0, "y": 0, "width": 8, "height": 8}).status == 404
    assert stack.call("GET", path).body["smartCrops"] == before  # nothing refused changed anything

    adjusted = stack.call("PUT", f"{path}/square", {"x": 0, "y": 0, "width": 600, "height": 600})
    assert adjusted.status == 200, adjusted.body
    square = adjusted.body["smartCrops"][0]
    assert (square["x"], square["width"], square["adjusted"], square["method"]) == (0, 600, True, "manual")
    status, body = served(stack, f"/is/image/{stack.company}/kept:square", "wid=60")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (60, 60)

    # Re-uploaded with preserveSmartCrop: the adjusted crop stays; the others are made again.
    job = upload_and_end(stack, {"kept.png": picture_png()}, autoSmartCropOptionsArray=ITEMS, preserveSmartCrop=True)
    crops = crops_by_name(stack, "kept")
    assert crops["square"] == square and crops["banner"]["adjusted"] is False
    assert "preserveSmartCrop: 1 adjusted smart crop(s) kept (square)" in rows(stack, job, "FileUpdated")[0]["logMessage"]
    # Without it, the crop is made again from the pixels.
    upload_and_end(stack, {"kept.png": picture_png()}, autoSmartCropOptionsArray=ITEMS)
    again = crops_by_name(stack, "kept")["square"]
    assert again["adjusted"] is False and again["width"] == 800 and keeps_disc(again)


def test_ignore_smart_crop_generation_makes_none_and_keeps_what_the_asset_had(world):
    stack = world["stack"]
    job = upload_and_end(stack, {"plain.png": picture_png()}, autoSmartCropOptionsArray=ITEMS,
                         ignoreSmartCropGeneration=True)
    assert asset(stack, "plain")["smartCrops"] == []
    assert "ignoreSmartCropGeneration: no smart crops made (the 3 asked for were skipped)" in \
        rows(stack, job, "UploadSuccess")[0]["logMessage"]

    upload_and_end(stack, {"plain.png": picture_png()}, autoSmartCropOptionsArray=ITEMS[:1])
    made = crops_by_name(stack, "plain")
    upload_and_end(stack, {"plain.png": picture_png()}, autoSmartCropOptionsArray=ITEMS,
                   ignoreSmartCropGeneration=True)
    assert crops_by_name(stack, "plain") == made  # kept as they were, nothing new made
