"""Outcomes are enums (issue 14, item 3) that read exactly as the bare strings did: in function logs,
metric names, the claim's ``outcome``/``result`` in DynamoDB, and the job log."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from boto3.dynamodb.types import TypeSerializer

from openips.models.domain import FileClaim, LogType
from openips.models.outcomes import FileOutcome, Handling


def test_the_values_are_the_strings_of_before():
    assert [o.value for o in FileOutcome] == ["UploadSuccess", "FileUpdated", "DuplicateSkipped", "UploadError",
                                             "FileCancel", "Extracted"]
    assert [h.value for h in Handling] == ["Paused", "Throttled", "Busy", "Retrying", "HandedToMedia",
                                          "Submitted", "CancelledJobs", "DuplicateDelivery", "Unattributed"]
    assert f"{Handling.PAUSED}" == str(Handling.PAUSED) == "Paused" == Handling.PAUSED
    assert json.dumps({"outcome": FileOutcome.UPLOAD_SUCCESS}) == '{"outcome": "UploadSuccess"}'
    assert TypeSerializer().serialize(FileOutcome.EXTRACTED) == {"S": "Extracted"}


def test_a_file_outcome_is_the_log_type_of_its_row():
    for outcome in FileOutcome:
        if outcome is not FileOutcome.EXTRACTED:  # an archive's members are the job's files; its row says so
            assert LogType(outcome) == outcome


def test_a_claim_reads_and_writes_its_outcome_as_the_string():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    claim = FileClaim.model_validate({"job_handle": "j-1", "claim_id": "c", "path": "a.jpg", "lease_until": now,
                                      "outcome": "DuplicateSkipped", "result": "Extracted"})
    assert claim.outcome is FileOutcome.DUPLICATE_SKIPPED and claim.result is FileOutcome.EXTRACTED
    dumped = claim.model_dump(mode="json")
    assert (dumped["outcome"], dumped["result"]) == ("DuplicateSkipped", "Extracted")
