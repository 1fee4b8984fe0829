"""A small slice of the load tier (bench/load, ``make load``) in the test suite.

Two jobs of 75 small images each, uploaded at the same time over real HTTP to a local stack
whose workers see DynamoDB throttle 10 % of their attempts (``OPENIPS_FAULTS``). Every job
must end with exact counts: one outcome row per file, one ``EndUpload`` row, and the same
numbers in the summary, in getJobLogs and in the ``EndUpload`` text. No timing is asserted;
the timeouts are only there to stop waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pyvips")

from bench.load import images  # noqa: E402 - after the skip: the images need pyvips
from bench.load.driver import run_jobs  # noqa: E402
from bench.load.stack import Stack  # noqa: E402
from openips_cli import faults  # noqa: E402
from openips_cli.client import OpenIpsClient  # noqa: E402

FILES_PER_JOB = 75
THROTTLING = "dynamodb:throttle:0.1"


@pytest.fixture(scope="module")
def throttled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("throttled")
    stack = Stack(state, env={faults.ENV_RULES: THROTTLING, faults.ENV_SEED: "7", faults.ENV_DIR: str(state)})
    stack.start()
    try:
        yield stack
    finally:
        assert stack.stop() == 0, "the stack did not stop cleanly:\n" + stack.log_tail()


def test_two_concurrent_jobs_under_dynamodb_throttling_account_for_every_file_once(throttled_stack: Stack):
    # Given two users' jobs of 75 images each, uploaded 4 at a time each, at the same time
    sources = images.small_sources(FILES_PER_JOB)
    jobs = [(name, images.as_uploads(name, sources)) for name in ("throttled-a", "throttled-b")]

    # When both run to their end while DynamoDB throttles the workers
    results = run_jobs(lambda: OpenIpsClient(throttled_stack.info["apiUrl"], throttled_stack.info["apiKey"]),
                       jobs, parallel=4, timeout=300, stall=240)

    # Then each job ended once, with every file counted exactly once, everywhere
    for result in results:
        assert result.outcome == "ended", f"{result.name}: {result.problems}\n{throttled_stack.log_tail()}"
        assert result.problems == [], result.name
        assert [r["logType"] for r in result.rows].count("EndUpload") == 1
        assert (result.summary["totalFileCount"], result.summary["fileSuccessCount"]) == (75, 75), \
            f"{result.name}: outcomes {dict(result.outcomes)}, not-success rows " \
            f"{[r for r in result.rows if r.get('logType') not in ('UploadSuccess', 'EndUpload', 'StartUpload')]}"
        assert (result.lost, result.double_counted) == (0, 0)
    # And the faults were really there (botocore's retries absorbed them)
    assert ("dynamodb", "throttle") in {(s, k) for s, _, k in faults.fired(str(throttled_stack.state_dir))}
