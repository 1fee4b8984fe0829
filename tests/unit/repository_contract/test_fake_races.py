"""The fakes under real threads: one winner per conditional write, as on DynamoDB.

(moto in process does not serialise requests, so the DynamoDB side of these races runs on the
local stack's atomic moto server: tests/integration/test_mail_abuse.py, test_shared_capacity.py.)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from openips.models.domain import JobCounts, LogType
from tests.fakes.repositories import MemoryRepositories
from tests.unit.repository_contract.builders import T0, asset, claim, job, row
from tests.unit.repository_contract.test_image_presets import image_preset

THREADS = 16


def _race(work: Callable[[int], Any]) -> list[Any]:
    start, results = threading.Barrier(THREADS), [None] * THREADS

    def run(index: int) -> None:
        start.wait(timeout=10)
        results[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_one_claim_one_asset_name_one_job_name_one_finisher_and_quotas_that_hold():
    r = MemoryRepositories()
    assert r.jobs.create(job(), [])
    assert r.claims.claim_file(claim(), T0).status == "new"
    statuses = _race(lambda i: r.claims.claim_file(claim(lease=T0 + timedelta(seconds=i)), T0).status)
    assert Counter(statuses) == {"busy": THREADS}

    assert Counter(_race(lambda i: r.assets.create(asset(f"a-{i}", "chair")))) == {True: 1, False: THREADS - 1}
    assert Counter(_race(lambda i: r.jobs.create(job(f"j-{i}", "batch"), []))) == {True: 1, False: THREADS - 1}

    r.claims.complete(claim(), {"success": 1}, [], None)
    r.jobs.close("j-one", 1, "endJob", T0)
    read = r.jobs.get("j-one")
    assert read.counts == JobCounts(received=1, done=1, success=1)
    won = _race(lambda i: r.jobs.try_finish(read, T0, row(LogType.END_UPLOAD)))
    assert Counter(won) == {True: 1, False: THREADS - 1} and r.logs.count("j-one") == 1

    until = T0 + timedelta(seconds=60)
    taken = _race(lambda i: r.quotas.take_inflight_slot("c-acme", f"h{i}", until, 3, T0))
    assert Counter(taken) == {True: 3, False: THREADS - 3}
    mails = _race(lambda i: r.quotas.reserve_mail(f"j-{i}", "email:Completion", "c-acme", "2024-05-01", 5))
    assert Counter(mails) == {True: 5, False: THREADS - 5}


def test_concurrent_image_preset_creates_never_pass_the_company_limit():
    r = MemoryRepositories()
    assert Counter(_race(lambda i: r.image_presets.create(image_preset(f"p{i}"), 6))) == {"created": 6,
                                                                                           "full": THREADS - 6}
    assert len(r.image_presets.list_for_company("c-acme")) == 6
