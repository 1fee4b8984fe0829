"""Issue 13 item 3: one upload cannot become millions of files. Archive members count against the
job's and the company's daily budget; an archive that would pass one is refused whole, with a row."""

from __future__ import annotations

import pytest

from openips.services.deps import reset_caches
from tests.integration.test_archives import UNCOMPRESS, zip_bytes
from tests.integration.test_processing import jpeg, rows, upload_and_end


def nested(outer: int, inner: int) -> bytes:
    """A zip of ``outer`` zips of ``inner`` small JPEGs each."""
    small = jpeg(16, 16)
    return zip_bytes({f"part{o}.zip": zip_bytes({f"p{o}_{i}.jpg": small for i in range(inner)})
                      for o in range(outer)})


@pytest.fixture
def budget(monkeypatch):
    def set_limits(**env: int) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        reset_caches()
    return set_limits


def test_nested_archives_stop_at_the_jobs_budget_and_every_refusal_is_a_row(stack, budget):
    budget(MAX_EXTRACTED_FILES_PER_JOB=10)
    job = upload_and_end(stack, {"bomb.zip": nested(3, 5)}, **UNCOMPRESS)  # 3 + 3×5 = 18 members in all
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    refused = [r for r in rows(stack, job, "UploadError") if "would take the files extracted" in r["logMessage"]]
    # bomb.zip's 3 members and one inner zip's 5 fit (8); each other inner zip would make 13: refused whole
    assert len(refused) == 2 and all("in this job past the limit of 10 files" in r["logMessage"] for r in refused)
    made = [r for r in rows(stack, job, "UploadSuccess") if r.get("assetName", "").startswith("p0_")]
    assert len(made) == 5
    assert (log["totalFileCount"], log["fileErrorCount"]) == (1 + 3 + 5, 2)


def test_the_company_budget_spans_its_jobs(stack, budget):
    budget(MAX_EXTRACTED_FILES_PER_COMPANY_DAY=6)
    first = upload_and_end(stack, {"a.zip": zip_bytes({f"a{i}.jpg": jpeg(16, 16) for i in range(4)})}, **UNCOMPRESS)
    assert stack.job_log(first)["fileSuccessCount"] == 5
    second = upload_and_end(stack, {"b.zip": zip_bytes({f"b{i}.jpg": jpeg(16, 16) for i in range(4)})},
                            name="second", **UNCOMPRESS)
    (refused,) = rows(stack, second, "UploadError")
    assert "the company today (UTC) past the limit of 6 files" in refused["logMessage"]
    log = stack.job_log(second)
    assert (log["logType"], log["totalFileCount"], log["fileErrorCount"]) == ("EndUpload", 1, 1)
