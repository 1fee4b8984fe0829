"""The upload page in a real browser (Debian's chromium, driven by Playwright) against
``openips local up``: sign in, drop a folder (Chrome's own drag events, so the page walks real
directory entries) and upload it straight to S3 through the S3 front's CORS,
watch the job end, see its log and assets, stop a second job, find both in the job list.

Screenshots of each stage go to ``test-artifacts/browser/``. Without chromium or Playwright the
tests skip on a developer's machine and fail in CI (``OPENIPS_REQUIRE_BROWSER=1``, set by
``.ci/run``), as the Ghostscript tests do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from openips_cli.samples import write_samples

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
HOSTILE = "<img src=x onerror=alert(1)>.jpg"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
JOB_TIMEOUT_MS = 120_000


def _unavailable(reason: str) -> None:
    if os.environ.get("OPENIPS_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (OPENIPS_REQUIRE_BROWSER is set: .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    executable = os.environ.get("OPENIPS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        _unavailable(f"no chromium at {executable} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (requirements-dev.txt)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Page:
    """A fresh tab with what the page did wrong recorded: dialogs (a script that ran from data),
    console errors (CSP violations among them) and failed requests."""

    def __init__(self, browser, base_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def sign_in(self, key: str) -> None:
        self.page.goto("/")
        self.page.fill("#api-key", key)
        self.page.click("#sign-in-form button[type=submit]")


@pytest.fixture
def tab(browser, local_stack: dict) -> Iterator[Page]:
    tab = Page(browser, local_stack["pageUrl"])
    yield tab
    tab.context.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five files: an RGB JPEG, a PNG with alpha, a CMYK JPEG, a truncated JPEG and a JPEG whose
    name is HTML."""
    root = tmp_path_factory.mktemp("drop") / "batch"
    files = write_samples(root)
    (root / HOSTILE).write_bytes(files["shoes/red-runner.jpg"].read_bytes())
    return root


def test_a_wrong_key_is_a_clear_message_and_the_key_stays_out_of_urls(tab: Page, local_stack: dict) -> None:
    sent: list[tuple[str, str | None]] = []
    tab.page.on("request", lambda request: sent.append((request.url, request.headers.get("authorization"))))
    tab.sign_in("not-a-key")
    from playwright.sync_api import expect

    expect(tab.page.locator("#sign-in-error")).to_contain_text("not valid")
    assert tab.page.locator("#upload-view").is_hidden()
    tab.shot("01-wrong-key")
    assert all("not-a-key" not in url for url, _ in sent)
    assert [url for url, auth in sent if auth] == [local_stack["apiUrl"] + "/v1/jobs/active"]
    assert tab.page.evaluate("sessionStorage.getItem('openips.apiKey')") is None


def test_a_folder_uploads_to_s3_the_job_ends_and_its_assets_are_shown(tab: Page, local_stack: dict,
                                                                      folder: Path) -> None:
    page = tab.page
    s3_requests: list[tuple[str, str | None]] = []
    page.on("request", lambda r: s3_requests.append((r.method, r.headers.get("authorization")))
            if r.url.startswith(local_stack["s3Url"]) else None)
    tab.sign_in(local_stack["apiKey"])
    page.locator("#job-form").wait_for(state="visible")
    assert page.evaluate("sessionStorage.getItem('openips.apiKey')") == local_stack["apiKey"]

    page.fill("#job-name", "browser-folder")
    page.fill("#dest-folder", "browser/")
    drop_folder(tab, "#drop-zone", folder)
    rows = page.locator("#file-list li")
    rows.nth(4).wait_for()
    assert rows.count() == 5
    paths = sorted(rows.evaluate_all("items => items.map(li => li.querySelector('.path').textContent)"))
    assert paths == sorted(f"batch/{p}" for p in ["shoes/red-runner.jpg", "brand/logo.png",
                                                 "print/catalog-cover.jpg", "shoes/broken.jpg", HOSTILE])
    tab.shot("02-folder-selected")

    page.click("#start")
    page.wait_for_function(
        "() => { const bars = [...document.querySelectorAll('#file-list progress')];"
        " return bars.length === 5 && bars.every(bar => bar.value === 100)"
        " && document.querySelector('#batch-bar').value === 100; }", timeout=60_000)
    tab.shot("03-uploaded")
    # Cross-origin XHRs with upload listeners are preflighted: they succeed only because the S3 front
    # answered the preflight and the POST from the bucket's CORS rule (Playwright does not list preflights).
    assert [method for method, _ in s3_requests] == ["POST"] * 5
    assert all(auth is None for _, auth in s3_requests), "the API key must never go to storage"

    page.wait_for_function("() => document.querySelector('#job-state').textContent === 'Ended'",
                           timeout=JOB_TIMEOUT_MS)
    page.locator("#asset-grid li").nth(3).wait_for()
    errors = page.locator("#log-rows tr[data-log-type=UploadError]")
    assert errors.count() == 1
    assert "broken" in errors.inner_text()
    summary = page.locator("#summary").inner_text()
    assert "Errors" in summary and "Processed" in summary
    cards = page.locator("#asset-grid li")
    assert cards.count() == 4
    for card in cards.all():
        assert card.locator(".links a", has_text="Master").get_attribute("href").startswith(local_stack["s3Url"])
        assert card.locator(".links a", has_text="Optimized").count() == 1
    # The hostile name is text everywhere: in the file list, the log; no element came from it.
    assert page.locator("#file-list .path", has_text=HOSTILE).count() == 1
    assert page.locator("img[src='x']").count() == 0
    assert tab.dialogs == []
    page.locator("input[name=log-filter][value=UploadError]").check()
    assert page.locator("#log-rows tr").count() == 1
    page.locator("input[name=log-filter][value=all]").check()
    tab.shot("04-job-ended")
    assert tab.errors == [], "console errors (a CSP violation is one)"

    # Four thumbnails actually decoded by the browser.
    listed = requests.get(f"{local_stack['apiUrl']}/v1/assets", params={"jobHandle": _job_handle(page)},
                          headers={"Authorization": f"Bearer {local_stack['apiKey']}"}, timeout=30).json()
    assert all(asset["files"]["thumbnail"]["url"] for asset in listed["assetArray"])
    page.wait_for_function("() => [...document.querySelectorAll('#asset-grid img')]"
                           ".filter(img => img.complete && img.naturalWidth > 0).length === 4", timeout=30_000)


def drop_folder(tab: Page, selector: str, folder: Path) -> None:
    """Drop ``folder`` on the element as the OS does: Chrome's own drag events carry the path, so the
    page's drop handler gets real directory entries (webkitGetAsEntry), not a synthetic file list."""
    box = tab.page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not visible"
    cdp = tab.context.new_cdp_session(tab.page)
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(folder)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, **point, "data": data})


def test_the_folder_picker_keeps_relative_paths_too(tab: Page, local_stack: dict, folder: Path) -> None:
    tab.sign_in(local_stack["apiKey"])
    tab.page.locator("#job-form").wait_for(state="visible")
    tab.page.set_input_files("#folder-input", str(folder))
    rows = tab.page.locator("#file-list li")
    rows.nth(4).wait_for()
    paths = sorted(rows.evaluate_all("items => items.map(li => li.querySelector('.path').textContent)"))
    assert paths == sorted(f"batch/{p}" for p in ["shoes/red-runner.jpg", "brand/logo.png",
                                                 "print/catalog-cover.jpg", "shoes/broken.jpg", HOSTILE])
    assert tab.errors == [] and tab.dialogs == []


def _job_handle(page) -> str:
    return page.get_attribute("#job-view", "data-job-handle")


def test_the_stop_button_stops_a_second_job(tab: Page, local_stack: dict) -> None:
    from playwright.sync_api import expect

    page = tab.page
    tab.sign_in(local_stack["apiKey"])
    page.locator("#job-form").wait_for(state="visible")
    # Storage slowed to 256 KiB/s, so the job is stopped with uploads in flight and waiting.
    cdp = tab.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": -1,
                                                   "uploadThroughput": 256 * 1024})
    files = [{"name": f"big-{i}.bin", "mimeType": "application/octet-stream", "buffer": os.urandom(1024 * 1024)}
             for i in range(6)]
    page.fill("#job-name", "browser-stop")
    page.set_input_files("#file-input", files)
    page.click("#start")
    page.wait_for_function("() => [...document.querySelectorAll('#file-list progress')].some(bar => bar.value > 0)")
    page.click("#stop-job")
    page.wait_for_function("() => document.querySelector('#job-state').textContent === 'Ended'",
                           timeout=JOB_TIMEOUT_MS)
    statuses = page.locator("#file-list .status").all_inner_texts()
    assert "cancelled" in statuses, statuses
    expect(page.locator("#stop-job")).to_be_hidden()
    tab.shot("05-second-job-stopped")
    assert tab.errors == [] and tab.dialogs == []


def test_past_jobs_list_both_jobs_with_links_to_their_logs(tab: Page, local_stack: dict) -> None:
    page = tab.page
    tab.sign_in(local_stack["apiKey"])
    page.locator("#job-form").wait_for(state="visible")
    page.click("a[href='#jobs']")
    page.locator("#job-rows tr").nth(1).wait_for()
    names = page.locator("#job-rows tr td:first-child").all_inner_texts()
    assert {"browser-folder", "browser-stop"} <= set(names)
    tab.shot("06-past-jobs")
    page.click("#job-rows a:text('browser-folder')")
    page.wait_for_function("() => document.querySelector('#job-state').textContent === 'Ended'")
    assert page.locator("#log-rows tr[data-log-type=UploadError]").count() == 1
    assert tab.errors == []
