"""What became of an uploaded file, and of a notification that brought no file outcome this time.

Both are ``StrEnum``s: a member *is* its string, so log lines, metric names, the claim's
``outcome``/``result`` in DynamoDB and the job log read exactly as the bare strings did.
"""

from __future__ import annotations

from enum import StrEnum


class FileOutcome(StrEnum):
    """The end of one uploaded file: the log type of its row (spec §8.7), counted once in its job."""

    UPLOAD_SUCCESS = "UploadSuccess"
    FILE_UPDATED = "FileUpdated"
    DUPLICATE_SKIPPED = "DuplicateSkipped"
    UPLOAD_ERROR = "UploadError"
    FILE_CANCEL = "FileCancel"  # stopJob/deleteJob before the file started
    EXTRACTED = "Extracted"  # an archive whose members went back into the job (unCompressOptions)


class Handling(StrEnum):
    """Why a notification's object has no file outcome yet, or never will (function logs and metrics)."""

    PAUSED = "Paused"  # its job is paused: back in the queue, unclaimed
    THROTTLED = "Throttled"  # its company has max_files_in_flight_per_company files in flight
    BUSY = "Busy"  # another attempt holds the file's claim
    RETRYING = "Retrying"  # this attempt failed; the next is due after a delay
    HANDED_TO_MEDIA = "HandedToMedia"  # a video: MediaFunction claims and processes it
    SUBMITTED = "Submitted"  # a video rendition given to MediaConvert: its job-state event completes it
    CANCELLED_JOBS = "CancelledJobs"  # a stopped job's MediaConvert jobs were cancelled (TranscodeQueue message)
    DUPLICATE_DELIVERY = "DuplicateDelivery"  # the file was done already (S3 and SQS deliver at least once)
    UNATTRIBUTED = "Unattributed"  # its key names no known job: kept, logged, never counted


Outcome = FileOutcome | Handling  # what ``process_notification`` reports for each object
