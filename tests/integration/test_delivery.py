"""GET /is/image/{company}/{asset} on the moto stack: what is served, to whom, how it is cached, what is refused.

The route is driven as API Gateway drives DeliveryFunction (``InProcessStack.invoke``: the raw query,
binary answers base64-encoded); assets come from real upload jobs.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
import requests

from openips.models.api import CreateUserRequest
from openips.models.domain import Company
from openips.services import auth
from openips.services.deps import get_deps
from tests.integration import cloudfront
from tests.integration.conftest import Stack, module_stack
from tests.integration.test_processing import upload_and_end

pyvips = pytest.importorskip("pyvips")
from PIL import Image


def gradient(width: int = 800, height: int = 600, seed: int = 0) -> bytes:
    """A JPEG whose pixels differ everywhere, so a wrong region or scale shows."""
    xy = pyvips.Image.xyz(width, height)
    image = (xy[0] * (255 / width)).bandjoin([xy[1] * (255 / height), (xy[0] + xy[1] + seed) % 256])
    return image.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=95)


@pytest.fixture(scope="module")
def served() -> Iterator[dict]:
    """Acme: ``red`` published, ``hidden`` not; Other (a second company): ``secret`` not published, ``open`` published."""
    with module_stack() as stack:
        upload_and_end(stack, {"red.jpg": gradient()}, name="published")
        upload_and_end(stack, {"hidden.jpg": gradient(seed=9)}, name="unpublished", readyForPublish=False)
        deps = get_deps()
        deps.companies.create(Company(company_handle="c-other", name="Other"))
        _, other_key = auth.create_user(deps.companies, deps.accounts, None, CreateUserRequest(
            company_handle="c-other", email="ops@other.example", role="IpsCompanyAdmin"))
        upload_as(stack, other_key, "secret.jpg", gradient(seed=3), readyForPublish=False)
        upload_as(stack, other_key, "open.jpg", gradient(seed=5))
        yield {"stack": stack, "other_key": other_key}


def upload_as(stack: Stack, key: str, name: str, data: bytes, **params) -> None:
    """One file in a job of the company ``key`` belongs to, processed."""
    opened = stack.open_job(name, key=key, **params)
    assert opened.status == 201, opened.body
    assert stack.post_file(opened.body["upload"], name, data).status_code in (200, 204)
    assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end", key=key).status == 202
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}


def get(stack: Stack, path: str, query: str = "", headers: dict[str, str] | None = None) -> dict:
    """The function's answer, body decoded to bytes."""
    answer = stack.invoke("GET", path, key=None, raw_query=query, headers=headers)
    body = answer.get("body") or ""
    answer["bytes"] = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    answer["headers"] = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return answer


def picture(answer: dict) -> Image.Image:
    image = Image.open(io.BytesIO(answer["bytes"]))
    image.load()
    return image


# ---- what is served, and to whom ---------------------------------------------------------------------


def test_a_published_asset_is_served_by_company_handle_and_by_company_name(served):
    stack = served["stack"]

    by_handle = get(stack, f"/is/image/{stack.company}/red", "wid=200")
    by_name = get(stack, "/is/image/Acme/red", "wid=200")

    assert by_handle["statusCode"] == 200, by_handle["bytes"][:200]
    assert by_handle["headers"]["content-type"] == "image/jpeg"
    image = picture(by_handle)
    assert (image.format, image.size) == ("JPEG", (200, 150))
    assert by_name["statusCode"] == 200 and by_name["bytes"] == by_handle["bytes"]
    assert by_name["headers"]["etag"] == by_handle["headers"]["etag"]


@pytest.mark.parametrize("path", [
    "/is/image/Acme/hidden",  # not published
    "/is/image/Acme/nothing",  # no such asset
    "/is/image/Nobody/red",  # no such company
    "/is/image/acme/red",  # company names are case-sensitive
    "/is/image/Acme/RED",  # and asset IDs
    "/is/image/Other/secret",  # another company's unpublished asset, by its company
    "/is/image/c-other/secret",  # and by its handle
    "/is/image/Acme/secret",  # another company's asset under this one's name
    "/is/image/Acme/open",  # even a published one
])
def test_what_is_not_a_published_asset_of_that_company_is_one_and_the_same_404(served, path):
    answer = get(served["stack"], path, "wid=100")

    assert answer["statusCode"] == 404
    assert answer["bytes"] == b"Image not found\n"  # nothing tells unpublished from missing
    assert answer["headers"]["content-type"].startswith("text/plain")
    assert answer["headers"]["cache-control"] == "no-store"


def test_another_companys_published_asset_is_served_under_its_own_company(served):
    answer = get(served["stack"], "/is/image/Other/open", "wid=64")
    assert answer["statusCode"] == 200 and picture(answer).size[0] == 64


def test_a_company_name_two_companies_share_names_neither(served):
    stack = served["stack"]
    get_deps().companies.create(Company(company_handle="c-twin", name="Other"))
    try:
        assert get(stack, "/is/image/Other/open", "wid=64")["statusCode"] == 404
        assert get(stack, "/is/image/c-other/open", "wid=64")["statusCode"] == 200  # the handle still works
    finally:
        get_deps().companies.replace(Company(company_handle="c-twin", name="Twin"))


@pytest.mark.parametrize("segment", ["..", "%2e%2e", "..%2F..%2Fc-other%2Fsecret", "red%00", "red%2Fx", "%ff%fe",
                                     "a" * 1100, "%0d%0aSet-Cookie:x=1"])
def test_weird_asset_segments_are_404_and_never_reach_elsewhere(served, segment):
    answer = get(served["stack"], f"/is/image/Acme/{segment}", "wid=10")
    assert answer["statusCode"] == 404
    assert "set-cookie" not in answer["headers"]


def test_paths_beside_the_route_are_not_served(served):
    stack = served["stack"]
    assert stack.invoke("GET", "/is/image/Acme/red/more", key=None)["statusCode"] in (401, 404)
    assert stack.invoke("GET", "/is/image/Acme", key=None)["statusCode"] in (401, 404)


def test_a_portrait_phone_photo_is_served_upright_as_its_thumbnail_shows_it(served):
    stack = served["stack"]
    # Stored landscape (800×600) and tagged "turn 90° clockwise", as a phone held upright writes it.
    stored = pyvips.Image.new_from_buffer(gradient(), "").copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = stored.jpegsave_buffer(Q=95)
    upload_and_end(stack, {"portrait.jpg": data}, name="portrait")
    [record] = stack.call("GET", "/v1/assets", query={"name": "portrait"}).body["assetArray"]

    answer = get(stack, "/is/image/Acme/portrait", "wid=300&fmt=png")
    cropped = get(stack, "/is/image/Acme/portrait", "crop=0,0,600,400&wid=150&fmt=png")

    assert answer["statusCode"] == 200, answer["bytes"][:200]
    served_image = pyvips.Image.new_from_buffer(answer["bytes"], "")
    assert (served_image.width, served_image.height) == (300, 400)  # upright: 600×800 as displayed
    upright = pyvips.Image.thumbnail_buffer(data, 300, height=10_000)  # turned by the tag, as a browser does
    assert (upright.width, upright.height) == (300, 400)
    assert (served_image.cast("float") - upright.cast("float")).abs().avg() < 3
    sideways = pyvips.Image.new_from_buffer(gradient(), "").rot270().resize(0.5)  # the other quarter turn
    assert (served_image.cast("float") - sideways.cast("float")).abs().avg() > 20
    # crop= counts displayed pixels: the top 400 rows of the 600×800 upright image.
    assert picture(cropped).size == (150, 100)
    assert (pyvips.Image.new_from_buffer(cropped["bytes"], "").cast("float")
            - upright.crop(0, 0, 300, 200).resize(0.5, kernel="lanczos3").cast("float")).abs().avg() < 4
    # The thumbnail turns the image too: the two agree in aspect ratio.
    thumbnail = Image.open(io.BytesIO(requests.get(record["files"]["thumbnail"]["url"], timeout=10).content))
    assert thumbnail.size == (192, 256)
    assert thumbnail.size[0] * served_image.height == thumbnail.size[1] * served_image.width
    # The record keeps the tag, so a revalidation needs nothing from storage.
    assert (record["width"], record["height"], record["orientation"]) == (800, 600, 6)
    from openips.services.deps import get_deps

    storage = get_deps().storage
    opened: list[str] = []
    real = storage.range_reader
    storage.range_reader = lambda bucket, key: opened.append(key) or real(bucket, key)  # type: ignore[method-assign]
    try:
        again = get(stack, "/is/image/Acme/portrait", "wid=300&fmt=png", {"if-none-match": answer["headers"]["etag"]})
    finally:
        storage.range_reader = real  # type: ignore[method-assign]
    assert (again["statusCode"], opened) == (304, [])


# ---- image presets ($name$) --------------------------------------------------------------------------


def test_a_preset_expands_from_the_requested_companys_presets_only(served):
    stack = served["stack"]
    assert stack.call("POST", "/v1/image-presets", {"name": "card", "modifiers": "wid=160&fmt=png"}).status == 201
    other = stack.call("POST", "/v1/image-presets", {"name": "theirs", "modifiers": "wid=90&fmt=png"},
                       key=served["other_key"])
    assert other.status == 201, other.body

    expanded = get(stack, "/is/image/Acme/red", "$card$")
    assert expanded["statusCode"] == 200 and picture(expanded).size == (160, 120)
    assert expanded["bytes"] == get(stack, "/is/image/Acme/red", "wid=160&fmt=png")["bytes"]
    # Another company's preset is unknown here, as an unknown name is.
    for name in ("theirs", "nothing"):
        refused = get(stack, "/is/image/Acme/red", f"${name}$")
        assert refused["statusCode"] == 403 and name.encode() in refused["bytes"]

    # A request that names no preset reads none: the company's presets stay off the hot path.
    import openips.services.delivery.service as service

    read: list[str] = []
    real = service.presets_for
    service.presets_for = lambda deps, company: read.append(company) or real(deps, company)  # type: ignore[assignment]
    try:
        assert get(stack, "/is/image/Acme/red", "wid=100")["statusCode"] == 200
        assert read == []
        assert get(stack, "/is/image/Acme/red", "$card$")["statusCode"] == 200
        assert read == [stack.company]
    finally:
        service.presets_for = real  # type: ignore[assignment]


# ---- caching -----------------------------------------------------------------------------------------


def test_a_matching_if_none_match_is_304_and_the_etag_follows_the_modifiers(served):
    stack = served["stack"]
    first = get(stack, "/is/image/Acme/red", "wid=120&fmt=png")
    tag = first["headers"]["etag"]
    assert tag.startswith('"') and not tag.startswith("W/")  # strong

    for header in (tag, f'"nope", {tag}', f"W/{tag}", "*"):
        again = get(stack, "/is/image/Acme/red", "wid=120&fmt=png", {"if-none-match": header})
        assert again["statusCode"] == 304, header
        assert again["bytes"] == b"" and again["headers"]["etag"] == tag
    assert get(stack, "/is/image/Acme/red", "wid=120&fmt=png", {"if-none-match": '"other"'})["statusCode"] == 200
    # The same request written differently has the same tag; another request another one.
    assert get(stack, "/is/image/Acme/red", "FMT=png&WID=120")["headers"]["etag"] == tag
    assert get(stack, "/is/image/Acme/red", "wid=121&fmt=png")["headers"]["etag"] != tag


def test_cache_control_is_the_companys_and_the_cache_modifier_overrides_it(served):
    stack = served["stack"]
    assert get(stack, "/is/image/Acme/red", "wid=50")["headers"]["cache-control"] == "public, max-age=36000"
    assert get(stack, "/is/image/Acme/red", "wid=50&cache=off")["headers"]["cache-control"] == "no-store"
    assert get(stack, "/is/image/Acme/red", "wid=50&cache=on,off")["headers"]["cache-control"] == "private, max-age=36000"
    assert get(stack, "/is/image/Acme/red", "wid=50&cache=validate")["headers"]["cache-control"] == "public, max-age=36000"

    changed = stack.call("PATCH", f"/v1/admin/companies/{stack.company}", {"deliveryCacheMaxAge": 600})
    assert changed.status == 200, changed.body
    assert changed.body["deliveryCacheMaxAge"] == 600
    try:
        assert get(stack, "/is/image/Acme/red", "wid=50")["headers"]["cache-control"] == "public, max-age=600"
    finally:
        stack.call("PATCH", f"/v1/admin/companies/{stack.company}", {"deliveryCacheMaxAge": 36000})


def test_modifiers_it_does_not_apply_are_named_in_a_header(served):
    answer = get(served["stack"], "/is/image/Acme/red", "wid=80&layer=2&effect=-1&op_blur=3")
    assert answer["statusCode"] == 200
    named = [n.strip() for n in answer["headers"]["x-openips-ignored-modifiers"].split(",")]
    assert set(named) == {"layer", "effect", "op_blur"}
    assert "x-openips-ignored-modifiers" not in get(served["stack"], "/is/image/Acme/red", "wid=80")["headers"]


# ---- errors and limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["wid=abc", "fmt=bmp", "qlt=500", "rotate=45x", "bgc=zzzzzz"])
def test_a_bad_modifier_is_an_is_style_403_text(served, query):
    answer = get(served["stack"], "/is/image/Acme/red", query)
    assert answer["statusCode"] == 403, answer["bytes"]
    assert answer["headers"]["content-type"].startswith("text/plain")
    assert answer["bytes"].startswith(b"Invalid modifier: ")
    assert answer["headers"]["cache-control"] == "no-store"


def test_limits_on_output_pixels_modifier_count_and_query_length(served):
    stack = served["stack"]
    too_big = get(stack, "/is/image/Acme/red", "wid=3000&hei=3000&fit=stretch")  # 9 MP > 2000×2000
    assert too_big["statusCode"] == 403 and b"pixel" in too_big["bytes"].lower(), too_big["bytes"]
    assert get(stack, "/is/image/Acme/red", "wid=2000&hei=1500&fit=stretch,1")["statusCode"] == 200

    many = "&".join(["qlt=80"] * 65)
    assert get(stack, "/is/image/Acme/red", many)["statusCode"] == 403
    long = "wid=10&" + "x" * 2100
    answer = get(stack, "/is/image/Acme/red", long)
    assert answer["statusCode"] == 403 and b"longer than 2048" in answer["bytes"]


# ---- a re-upload ---------------------------------------------------------------------------------------


def test_a_re_upload_changes_the_etag_and_invalidates_the_cdn_paths(served, monkeypatch):
    stack = served["stack"]
    before = get(stack, "/is/image/Acme/red", "wid=100")
    with cloudfront.distribution(monkeypatch, "delivery-test") as distribution:
        upload_and_end(stack, {"red.jpg": gradient(400, 300, seed=77)}, name="again")
        after = get(stack, "/is/image/Acme/red", "wid=100")

    assert after["statusCode"] == 200 and picture(after).size == (100, 75)
    assert after["headers"]["etag"] != before["headers"]["etag"]
    assert get(stack, "/is/image/Acme/red", "wid=100",
               {"if-none-match": before["headers"]["etag"]})["statusCode"] == 200  # the old tag no longer matches
    [paths] = cloudfront.invalidations(distribution)
    assert sorted(paths) == sorted([f"/is/image/{stack.company}/red*", "/is/image/Acme/red*"])


def test_without_a_distribution_a_re_upload_invalidates_nothing_and_fails_nothing(served):
    stack = served["stack"]
    job = upload_and_end(stack, {"hidden.jpg": gradient(seed=11)}, name="again-hidden", readyForPublish=False)
    assert stack.job_log(job)["fileUpdateCount"] == 1
