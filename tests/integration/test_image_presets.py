"""Image presets over HTTP: the ``$name$`` modifier strings a company's delivery URLs expand (docs/delivery.md)."""

from __future__ import annotations

import pytest

from openips.models.rendition import Rect
from openips.services.delivery.modifiers import Limits, parse_modifiers
from openips.services.delivery.presets import presets_for
from openips.services.deps import get_deps, reset_caches
from tests.integration.test_set_presets import other_company, user_key

THUMB = {"name": "Thumb", "modifiers": "wid=200&hei=200&fit=crop&qlt=85"}


def create(stack, body: dict | None = None, key: str | None = "default") -> dict:
    created = stack.call("POST", "/v1/image-presets", body or THUMB, key=key)
    assert created.status == 201, created.body
    return created.body


def names(stack, key: str | None = "default", company: str | None = None) -> list[str]:
    listed = stack.call("GET", "/v1/image-presets", key=key, query={"companyHandle": company} if company else None)
    assert listed.status == 200, listed.body
    return [p["name"] for p in listed.body["imagePresetArray"]]


def test_create_read_list_delete_and_names_in_any_case(stack):
    made = create(stack)
    assert made | THUMB == made and made["companyHandle"] == stack.company and made["createdBy"].startswith("u-")
    create(stack, {"name": "hero.large", "modifiers": "$thumb$&wid=1200&hei=600"})  # may name another preset

    got = stack.call("GET", "/v1/image-presets/THUMB")
    assert got.status == 200 and got.body == made
    assert names(stack) == ["hero.large", "Thumb"]
    taken = stack.call("POST", "/v1/image-presets", {"name": "thumb", "modifiers": "wid=1"})
    assert (taken.status, taken.body["fault"]["code"]) == (409, 30001), taken.body
    assert "thumb" in taken.body["fault"]["reason"]

    assert stack.call("DELETE", "/v1/image-presets/thumb").status == 200
    assert stack.call("GET", "/v1/image-presets/Thumb").status == 404
    gone = stack.call("DELETE", "/v1/image-presets/Thumb")
    assert (gone.status, gone.body["fault"]["code"]) == (404, 30001)
    assert names(stack) == ["hero.large"]


def test_delivery_expands_the_stored_presets(stack):
    create(stack)
    create(stack, {"name": "hero", "modifiers": "$THUMB$&crop=0,0,500,500&fmt=webp"})
    presets = presets_for(get_deps(), stack.company)
    request = parse_modifiers("$Hero$&qlt=70", presets, 1000, 800,
                              limits=Limits(max_pixels=4_000_000, max_modifiers=64, max_length=2048))
    assert (request.crop, request.width, request.height, request.fit) == (Rect(0, 0, 500, 500), 200, 200, "crop")
    assert (request.fmt, request.quality) == ("webp", 70)  # the request's qlt overrides the preset's


def test_roles_and_companies(stack):
    create(stack)
    for role in ("IpsUser", "ImagePortalUser"):
        key = user_key(stack, role)
        assert stack.call("GET", "/v1/image-presets/thumb", key=key).status == 200
        assert names(stack, key) == ["Thumb"]
        refused = stack.call("POST", "/v1/image-presets", {"name": "mine", "modifiers": "wid=1"}, key=key)
        assert (refused.status, refused.body["fault"]["type"]) == (403, "authorizationFault")
        assert stack.call("DELETE", "/v1/image-presets/thumb", key=key).status == 403

    globex, globex_key = other_company(stack)
    assert names(stack, globex_key) == []  # another company's presets are not its own
    assert stack.call("GET", "/v1/image-presets/thumb", key=globex_key).status == 404
    for method in ("GET", "DELETE"):
        refused = stack.call(method, "/v1/image-presets/thumb", key=globex_key, query={"companyHandle": stack.company})
        assert (refused.status, refused.body["fault"]["code"]) == (403, 20000), refused.body
    assert stack.call("GET", "/v1/image-presets", key=globex_key,
                      query={"companyHandle": stack.company}).status == 403
    assert stack.call("POST", "/v1/image-presets", THUMB | {"companyHandle": stack.company},
                      key=globex_key).status == 403
    assert stack.call("GET", "/v1/image-presets/thumb").status == 200  # the refused DELETE changed nothing

    # the same name in another company is another preset; IpsAdmin acts on any company
    assert create(stack, THUMB | {"modifiers": "wid=50"}, key=globex_key)["companyHandle"] == globex
    assert names(stack, stack.admin_key, globex) == ["Thumb"]
    got = stack.call("GET", "/v1/image-presets/thumb", key=stack.admin_key, query={"companyHandle": globex})
    assert got.body["modifiers"] == "wid=50"
    assert stack.call("GET", "/v1/image-presets/thumb").body["modifiers"] == THUMB["modifiers"]
    made = create(stack, {"name": "by-root", "modifiers": "fmt=png", "companyHandle": globex}, key=stack.admin_key)
    assert made["companyHandle"] == globex and names(stack, globex_key) == ["by-root", "Thumb"]


@pytest.mark.parametrize(("body", "code", "named"), [
    ({"modifiers": "wid=1"}, 30002, "name"),
    ({"name": "thumb"}, 30002, "modifiers"),
    ({"name": "thumb$", "modifiers": "wid=1"}, 30001, "name"),
    ({"name": "th umb", "modifiers": "wid=1"}, 30001, "name"),
    ({"name": "x" * 65, "modifiers": "wid=1"}, 30001, "name"),
    ({"name": "thumb", "modifiers": ""}, 30001, "modifiers"),
    ({"name": "thumb", "modifiers": "wid=abc"}, 30001, "wid"),
    ({"name": "thumb", "modifiers": "fmt=eps"}, 30001, "eps"),
    ({"name": "thumb", "modifiers": "$nowhere$"}, 30001, "$nowhere$"),
    ({"name": "thumb", "modifiers": "$thumb$"}, 30001, "$thumb$"),  # not yet stored: cannot name itself
    ({"name": "thumb", "modifiers": "wid=100&" * 200}, 30001, "modifiers"),
    ({"name": "thumb", "modifiers": "wid=1", "colour": "red"}, 30001, "colour"),
])
def test_bad_bodies_name_the_field(stack, body, code, named):
    refused = stack.call("POST", "/v1/image-presets", body)
    assert (refused.status, refused.body["fault"]["code"]) == (400, code), refused.body
    assert named in refused.body["fault"]["reason"]
    assert names(stack) == []


def test_a_company_keeps_at_most_the_configured_presets(stack, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_PRESETS_PER_COMPANY", "2")
    monkeypatch.setenv("MAX_IMAGE_PRESET_LENGTH", "20")
    reset_caches()
    create(stack, {"name": "a", "modifiers": "wid=1"})
    create(stack, {"name": "b", "modifiers": "wid=123&hei=12&qlt=1"})  # 20 characters
    full = stack.call("POST", "/v1/image-presets", {"name": "c", "modifiers": "wid=1"})
    assert (full.status, full.body["fault"]["code"]) == (409, 30001)
    assert "2 image presets" in full.body["fault"]["reason"]
    assert stack.call("DELETE", "/v1/image-presets/a").status == 200
    long = stack.call("POST", "/v1/image-presets", {"name": "c", "modifiers": "wid=1234&hei=1234&q=1"})
    assert (long.status, long.body["fault"]["code"]) == (400, 30001) and "at most 20" in long.body["fault"]["reason"]
    create(stack, {"name": "c", "modifiers": "wid=1"})
    assert names(stack) == ["b", "c"]
