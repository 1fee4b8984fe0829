"""The upload page's routes (docs/web-ui.md): public, static, with the headers that keep it safe.
The page itself is tested in a real browser: tests/e2e/test_upload_page.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openips.services import web_ui
from openips_cli.inprocess import _routes, http_api_event, invoke_route
from openips_cli.provision import route_for

WEB = Path(web_ui.__file__).resolve().parents[1] / "web"


def get(stack, path: str, headers: dict[str, str] | None = None) -> dict:
    route = route_for(_routes(), "GET", path)
    assert route is not None and route.function == "ApiFunction"
    return invoke_route(route, http_api_event("GET", path, headers or {}, None, None, "203.0.113.7"), stack.context)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/", "text/html; charset=utf-8"), ("/ui/main.js", "text/javascript; charset=utf-8"),
    ("/ui/app.css", "text/css; charset=utf-8"), ("/ui/icon.svg", "image/svg+xml")])
def test_the_page_and_its_files_need_no_key_and_carry_the_security_headers(stack, path, content_type):
    answer = get(stack, path)
    assert answer["statusCode"] == 200
    headers = answer["headers"]
    assert headers["Content-Type"] == content_type
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-cache"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    # Storage is where the page uploads and shows images from: the origin of the URLs the API signs.
    signed = stack.call("POST", "/v1/upload-jobs", {"jobName": "csp", "uploadParams": {
        "overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}}).body
    storage = re.match(r"https?://[^/]+", signed["upload"]["url"]).group(0)
    assert csp["connect-src"] == f"'self' {storage}" and csp["img-src"] == f"'self' {storage}"


def test_the_page_is_the_file_in_the_package_and_revalidates_to_304(stack):
    answer = get(stack, "/")
    assert answer["body"] == (WEB / "index.html").read_text(encoding="utf-8")
    again = get(stack, "/", {"if-none-match": answer["headers"]["ETag"]})
    assert again["statusCode"] == 304 and again["body"] == ""
    changed = get(stack, "/", {"if-none-match": '"something-else"'})
    assert changed["statusCode"] == 200


@pytest.mark.parametrize("name", ["nope.js", "..%2Ftemplate.yaml", ".hidden.js", "web_ui.py", "index.htm"])
def test_only_the_pages_files_are_served(stack, name):
    answer = get(stack, f"/ui/{name}")
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"


def test_the_page_has_no_inline_script_style_or_handler_and_no_html_from_data():
    html = (WEB / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="/ui/main.js">']
    assert "<style" not in html and not re.search(r"\son[a-z]+=", html) and "style=" not in html
    for script in WEB.glob("*.js"):
        code = script.read_text(encoding="utf-8")
        # Data reaches the page as text nodes and attributes only (dom.js); a comment may name the sink.
        sinks = [line for line in code.splitlines() if re.search(r"innerHTML|outerHTML|insertAdjacentHTML|"
                                                                  r"document\.write|eval\(|new Function", line)
                 and not line.strip().startswith("//")]
        assert sinks == [], f"{script.name}: {sinks}"
        assert "http://" not in code and "https://" not in code, f"{script.name} loads nothing from elsewhere"


def test_every_file_the_page_imports_is_served():
    names = set(web_ui.static_files())
    imported = {m for script in WEB.glob("*.js") for m in re.findall(r'from "\./([\w.-]+)"',
                                                                      script.read_text(encoding="utf-8"))}
    assert imported and imported <= names
    html = (WEB / "index.html").read_text(encoding="utf-8")
    assert set(re.findall(r'"/ui/([\w.-]+)"', html)) <= names
