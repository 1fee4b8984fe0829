"""Issue 13 item 10: reads one request makes are bounded by what it answers.

``GET /v1/assets`` and ``getJobLogs`` come in pages with a ``nextToken`` bound to the query it came
from; ``getAutoCropRect`` refuses a master over ``AUTO_CROP_RECT_MAX_BYTES`` before downloading it.
"""

from __future__ import annotations

import base64
import json
import random

import boto3
import pytest

from openips.models.domain import Asset, new_handle, utcnow
from openips.observability import logger
from openips.services.deps import get_deps, reset_caches
from openips.services.pages import READS_PER_RESULT
from openips.settings import Settings
from openips_cli import client as cli_client
from openips_cli import main as cli
from openips_cli.provision import load_template
from tests.integration.test_api import other_company_key


def put_assets(company: str, folder: str, names: list[str], job: str = "j-synthetic", **fields) -> list[str]:
    """Asset records (no files) straight into the store: listings need many, uploads would be slow."""
    assets, now, handles = get_deps().assets, utcnow(), []
    for name in names:
        asset = Asset(asset_handle=new_handle("a"), company_handle=company, name=name, folder=folder,
                      file_name=f"{name}.jpg", extension="jpg", publish_state="NotMarkedForPublish",
                      file_size=1, master_key=f"{company}/{folder}{name}.jpg", created_job_handle=job,
                      updated_job_handle=job, created=now, updated=now, last_claim="c", **fields)
        assert assets.create(asset)
        handles.append(asset.asset_handle)
    return handles


class ReadCounter:
    """Items DynamoDB handed the store: Query items and BatchGet items, per request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.items = 0
        table = get_deps().assets.table  # the jobs table every repository reads (adapters/dynamodb/table.py)
        query, batch_get = table.resource.query, table.client.batch_get_item

        def counted_query(**kwargs):
            page = query(**kwargs)
            self.items += len(page["Items"])
            return page

        def counted_batch_get(**kwargs):
            response = batch_get(**kwargs)
            self.items += sum(len(items) for items in response["Responses"].values())
            return response

        monkeypatch.setattr(table.resource, "query", counted_query)
        monkeypatch.setattr(table.client, "batch_get_item", counted_batch_get)


def pages_of(stack, path: str, query: dict, array: str, key: str = "default") -> list[list[dict]]:
    """Every page of a listing, following nextToken."""
    found, token = [], None
    while True:
        response = stack.call("GET", path, key=key, query=query | ({"nextToken": token} if token else {}))
        assert response.status == 200, response.body
        found.append(response.body[array])
        token = response.body.get("nextToken")
        if token is None:
            return found


# ---- GET /v1/assets ------------------------------------------------------------------------------


def test_assets_come_in_pages_that_read_only_the_page(stack, monkeypatch):
    names = [f"shoe{n:02d}" for n in range(7)]
    put_assets(stack.company, "bulk/", random.Random(7).sample(names, len(names)))
    counter = ReadCounter(monkeypatch)
    first = stack.call("GET", "/v1/assets", query={"folder": "bulk", "limit": "3"})
    assert first.status == 200, first.body
    assert [a["name"] for a in first.body["assetArray"]] == names[:3] and first.body["nextToken"]
    assert counter.items <= 3 + 1  # the page and one more, to know another page follows
    pages = pages_of(stack, "/v1/assets", {"folder": "bulk", "limit": "3"}, "assetArray")
    assert [[a["name"] for a in page] for page in pages] == [names[:3], names[3:6], names[6:]]
    # Without a limit: 100 a page; the last page has no token at all (assets otherwise keep their nulls).
    whole = stack.call("GET", "/v1/assets", query={"folder": "bulk"}).body
    assert [a["name"] for a in whole["assetArray"]] == names and "nextToken" not in whole


def test_job_project_and_word_listings_are_paged_too(stack):
    job = stack.open_job("synthetic").body["jobHandle"]
    in_job = put_assets(stack.company, "", [f"j{n}" for n in range(5)], job=job)
    pages = pages_of(stack, "/v1/assets", {"jobHandle": job, "limit": "2"}, "assetArray")
    assert [len(p) for p in pages] == [2, 2, 1] and {a["assetHandle"] for p in pages for a in p} == set(in_job)

    project = stack.call("POST", "/v1/projects", {"name": "Sale"}).body["projectHandle"]
    linked = put_assets(stack.company, "p/", [f"p{n}" for n in range(4)], project_handles=[project])
    for handle in linked:
        get_deps().projects.link_assets([project], handle)
    pages = pages_of(stack, "/v1/assets", {"projectHandle": project, "limit": "3"}, "assetArray")
    assert [len(p) for p in pages] == [3, 1] and {a["assetHandle"] for p in pages for a in p} == set(linked)

    worded = put_assets(stack.company, "w/", [f"w{n}" for n in range(5)], search_words=["red", "shoes"])
    put_assets(stack.company, "w/", ["only-red"], search_words=["red"])
    for handle in worded:
        get_deps().assets.index_words(stack.company, handle, [], ["red", "shoes"])
    pages = pages_of(stack, "/v1/assets", {"text": "red shoes", "limit": "2"}, "assetArray")
    assert {a["assetHandle"] for p in pages for a in p} == set(worded) and all(len(p) <= 2 for p in pages)


def test_a_filtered_page_may_be_short_and_following_it_finds_everything(stack, monkeypatch):
    put_assets(stack.company, "mixed/", [f"doc{n:02d}" for n in range(12)], type="Pdf")
    put_assets(stack.company, "mixed/", ["zebra"])
    counter = ReadCounter(monkeypatch)
    first = stack.call("GET", "/v1/assets", query={"folder": "mixed", "type": "Image", "limit": "2"}).body
    assert first["assetArray"] == [] and first["nextToken"]  # 8 Pdfs read, none kept: the page stops
    assert counter.items <= READS_PER_RESULT * 2 + 2 + 1
    pages = pages_of(stack, "/v1/assets", {"folder": "mixed", "type": "Image", "limit": "2"}, "assetArray")
    assert [a["name"] for p in pages for a in p] == ["zebra"]


@pytest.mark.parametrize("limit", ["0", "1001", "ten", "-1", " 5"])
def test_a_limit_out_of_range_is_a_parameter_fault(stack, limit):
    response = stack.call("GET", "/v1/assets", query={"folder": "bulk", "limit": limit})
    assert (response.status, response.fault_code) == (400, 30001), response.body
    assert "limit" in response.body["fault"]["reason"]


def _edited(token: str, **key) -> str:
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    decoded["k"] |= key
    return base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode()


def test_tampered_foreign_and_malformed_tokens_are_faults_never_data(stack):
    rival_key = other_company_key(stack)
    rival_job = stack.open_job("probe", key=rival_key).body["jobHandle"]
    rival_company = get_deps().jobs.get(rival_job).company_handle
    put_assets(stack.company, "shared/", ["mine1", "mine2"])
    rival_handles = put_assets(rival_company, "shared/", ["theirs1", "theirs2", "theirs3"])
    theirs = stack.call("GET", "/v1/assets", key=rival_key, query={"folder": "shared", "limit": "1"}).body
    assert [a["name"] for a in theirs["assetArray"]] == ["theirs1"]
    mine = stack.call("GET", "/v1/assets", query={"folder": "shared", "limit": "1"}).body
    job = stack.open_job("tokens").body["jobHandle"]
    tampered = {
        "another company's token": theirs["nextToken"],
        "mine, edited to their partition": _edited(mine["nextToken"], gsi1pk=f"C#{rival_company}#F#shared/"),
        "mine, edited within my partition to a key of theirs": _edited(mine["nextToken"],
                                                                       pk=f"A#{rival_handles[1]}", sk="KEY"),
        "mine, with a key attribute more": _edited(mine["nextToken"], extra="x"),
        "not base64 JSON": "!!not-a-token!!",
        "base64 of a JSON list": base64.urlsafe_b64encode(b"[1, 2]").decode(),
        "deeply nested JSON": base64.urlsafe_b64encode(b"[" * 5000).decode(),
        "too long": "A" * 10_000,
    }
    for what, token in tampered.items():
        response = stack.call("GET", "/v1/assets", query={"folder": "shared", "nextToken": token})
        assert (response.status, response.fault_code) == (400, 30001), (what, response.body)
        assert response.body["fault"]["reason"].startswith("nextToken"), what
    # A position edited within my partition is only a place in my listing: it shows nothing of theirs.
    moved = _edited(mine["nextToken"], pk=f"A#{rival_handles[0]}", gsi1sk="mine0")
    response = stack.call("GET", "/v1/assets", query={"folder": "shared", "nextToken": moved})
    assert response.status == 200 and [a["name"] for a in response.body["assetArray"]] == ["mine1", "mine2"]
    # A token continues its own query only: not another listing, not a lookup by name.
    for query in ({"jobHandle": job}, {"name": "mine1"}, {"folder": "elsewhere"}):
        response = stack.call("GET", "/v1/assets", query=query | {"nextToken": mine["nextToken"]})
        assert (response.status, response.fault_code) == (400, 30001), (query, response.body)
    # The rival's token on the rival's own query still works, and never shows the rival mine.
    rest = stack.call("GET", "/v1/assets", key=rival_key, query={"folder": "shared", "nextToken": theirs["nextToken"]})
    assert [a["name"] for a in rest.body["assetArray"]] == ["theirs2", "theirs3"]


def test_the_cli_follows_pages_and_prints_every_asset(stack, monkeypatch, capsys):
    names = [f"item{n:03d}" for n in range(130)]
    put_assets(stack.company, "many/", names)

    def through_the_stack(self, method, path, params=None, body=None):
        response = stack.call(method, path, body, query=cli_client._query(params or {}) or None)
        assert response.status == 200, response.body
        return response.body

    monkeypatch.setattr(cli_client.OpenIpsClient, "request", through_the_stack)
    # The handlers run in this process: their JSON logs and EMF metrics must stay off the CLI's stdout.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    level = logger.log_level
    logger.setLevel("ERROR")
    try:
        assert cli.main(["--api-url", "http://in-process", "--api-key", stack.key, "--json",
                         "assets", "list", "--folder", "many"]) == 0
    finally:
        logger.setLevel(level)
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == ["assetArray"] and [a["name"] for a in listed["assetArray"]] == names


# ---- getJobLogs sorted by name -------------------------------------------------------------------


def test_job_logs_by_name_read_a_page_not_the_company(stack, monkeypatch):
    names = [f"job-{n:02d}" for n in range(23)]
    handles = {}
    for name in random.Random(23).sample(names, len(names)):
        handles[name] = stack.open_job(name).body["jobHandle"]
    assert stack.call("DELETE", f"/v1/jobs/{handles['job-05']}").status == 200  # deleted: not listed
    expected = [n for n in names if n != "job-05"]
    job_repository = get_deps().jobs

    def everything(*args, **kwargs):
        raise AssertionError("getJobLogs read every job of the company")

    monkeypatch.setattr(job_repository, "query_company", everything)
    counter = ReadCounter(monkeypatch)
    query = {"sortBy": "JobName", "sortDirection": "Ascending", "numRows": "5"}
    first = stack.call("GET", "/v1/jobs/logs", query=query)
    assert first.status == 200, first.body
    assert [r["jobName"] for r in first.body["jobLogArray"]] == expected[:5] and first.body["nextToken"]
    assert counter.items <= 2 * (5 + 1)  # name guards and their jobs, the page and one more
    pages = pages_of(stack, "/v1/jobs/logs", query, "jobLogArray")
    assert [r["jobName"] for p in pages for r in p] == expected
    assert all(len(p) <= 5 for p in pages)
    descending = pages_of(stack, "/v1/jobs/logs", query | {"sortDirection": "Descending", "numRows": "7"},
                          "jobLogArray")
    assert [r["jobName"] for p in descending for r in p] == expected[::-1]
    # The start-date order is paged the same way.
    by_date = pages_of(stack, "/v1/jobs/logs", {"numRows": "4"}, "jobLogArray")
    assert sorted(r["jobName"] for p in by_date for r in p) == expected and len(by_date) == 6


def test_job_logs_sorted_by_a_field_no_index_keeps_read_a_bounded_number_of_jobs(stack, monkeypatch):
    from openips.services import jobs

    handles = [stack.open_job(f"sorted-{n:02d}").body["jobHandle"] for n in range(12)]
    for handle in handles[:4]:  # four ended jobs: their log type is EndUpload, the others' BeginUpload
        assert stack.call("POST", f"/v1/upload-jobs/{handle}/end").status == 202
    query = {"sortBy": "LogType", "sortDirection": "Ascending", "numRows": "5"}
    everything = stack.call("GET", "/v1/jobs/logs", query=query | {"numRows": "100"}).body["jobLogArray"]
    assert len(everything) == 12
    first = stack.call("GET", "/v1/jobs/logs", query=query).body["jobLogArray"]
    assert first == everything[:5]  # the same rows, in the same (stable) order, as sorting them all
    assert [r["logType"] for r in everything] == sorted(r["logType"] for r in everything)
    descending = stack.call("GET", "/v1/jobs/logs", query=query | {"sortDirection": "Descending"}).body
    assert [r["logType"] for r in descending["jobLogArray"]] == ["EndUpload"] * 4 + ["BeginUpload"]

    monkeypatch.setattr(jobs, "MAX_SORTED_JOBS", 11)  # a company with more jobs than the sort reads
    refused = stack.call("GET", "/v1/jobs/logs", query=query)
    assert (refused.status, refused.fault_code) == (413, 30001) and "startDate" in refused.body["fault"]["reason"]
    assert stack.call("GET", "/v1/jobs/logs", query={"numRows": "5"}).status == 200  # start-date pages: any number


def test_job_log_tokens_are_bound_to_their_company_and_sort(stack):
    for name in ("a", "b", "c"):
        stack.open_job(name)
    rival_key = other_company_key(stack)
    for name in ("x", "y"):
        stack.open_job(name, key=rival_key)
    by_name = {"sortBy": "JobName", "sortDirection": "Ascending", "numRows": "1"}
    theirs = stack.call("GET", "/v1/jobs/logs", key=rival_key, query=by_name).body["nextToken"]
    mine = stack.call("GET", "/v1/jobs/logs", query=by_name).body["nextToken"]
    for query in (by_name | {"nextToken": theirs},  # another company's
                  {"numRows": "1", "nextToken": mine},  # another sort
                  by_name | {"sortDirection": "Descending", "nextToken": mine},
                  {"sortBy": "FileErrorCount", "nextToken": mine},  # a sort that has one page
                  by_name | {"nextToken": "garbage"}):
        response = stack.call("GET", "/v1/jobs/logs", query=query)
        assert (response.status, response.fault_code) == (400, 30001), (query, response.body)
    rest = stack.call("GET", "/v1/jobs/logs", query=by_name | {"numRows": "5", "nextToken": mine}).body
    assert [r["jobName"] for r in rest["jobLogArray"]] == ["b", "c"] and "nextToken" not in rest


# ---- getAutoCropRect ------------------------------------------------------------------------------


def test_auto_crop_rect_refuses_a_master_over_its_bound_before_any_download(stack, monkeypatch):
    monkeypatch.setenv("AUTO_CROP_RECT_MAX_BYTES", "1024")
    reset_caches()
    deps = get_deps()
    (handle,) = put_assets(stack.company, "", ["huge"])
    master = deps.assets.get(handle).master_key
    boto3.client("s3").put_object(Bucket=deps.settings.assets_bucket, Key=master, Body=b"\xff" * 4096)
    fetched = []
    monkeypatch.setattr(deps.storage, "download", lambda *args, **kwargs: fetched.append(args))
    monkeypatch.setattr(deps.storage.s3, "get_object", lambda **kwargs: fetched.append(kwargs))
    monkeypatch.setattr(deps.storage.s3, "download_file", lambda *args, **kwargs: fetched.append(args))
    response = stack.call("GET", f"/v1/assets/{handle}/auto-crop-rect", query={"type": "Color"})
    assert (response.status, response.fault_code) == (413, 30001), response.body
    reason = response.body["fault"]["reason"]
    assert "4096 bytes" in reason and "1024 bytes" in reason and "AutoCropRectMaxBytes" in reason
    assert fetched == []
    (gone,) = put_assets(stack.company, "", ["gone"])  # a record whose master is not in the bucket
    missing = stack.call("GET", f"/v1/assets/{gone}/auto-crop-rect", query={"type": "Color"})
    assert (missing.status, missing.fault_code) == (404, 30001), missing.body


def test_the_template_passes_the_bound_to_the_imaging_function():
    template = load_template()
    parameter = template["Parameters"]["AutoCropRectMaxBytes"]
    assert parameter["Default"] == Settings.model_fields["auto_crop_rect_max_bytes"].default == 256 * 1024**2
    env = template["Resources"]["AssetImagingFunction"]["Properties"]["Environment"]["Variables"]
    assert env["AUTO_CROP_RECT_MAX_BYTES"] == {"Ref": "AutoCropRectMaxBytes"}
