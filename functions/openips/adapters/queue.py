"""SQS: the job-events queue that wakes FinalizeJobFunction; ProcessQueue and MediaQueue (files deferred, handed over).

The only boto3 SQS user.
"""

from __future__ import annotations

import json
from functools import lru_cache

import boto3


class JobEvents:
    def __init__(self, queue_url: str) -> None:
        self.sqs = boto3.client("sqs")
        self.queue_url = queue_url

    def job_finished(self, job_handle: str, company_handle: str) -> None:
        body = {"type": "JobFinished", "jobHandle": job_handle, "companyHandle": company_handle}
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))

    def invalidate_renditions(self, paths: list[str], reference: str) -> None:
        """Ask FinalizeJobFunction to drop cached renditions (the API function may not reach CloudFront)."""
        body = {"type": "InvalidateRenditions", "paths": paths, "reference": reference}
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))

    def send_again(self, body: str) -> None:
        """Queue a received event again, as it is (FinalizeJobFunction hands on a record it had no time for)."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


class ProcessQueue:
    def __init__(self, queue_url: str) -> None:
        self.sqs = boto3.client("sqs")
        self.queue_url = queue_url

    def send(self, body: str) -> None:
        """Queue an S3 notification now (ProcessFileFunction hands a video to MediaQueue)."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def defer(self, body: str, delay_seconds: int) -> None:
        """Send an S3 notification back to the queue, to be delivered after ``delay_seconds``."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay_seconds)


@lru_cache(maxsize=2)
def get_job_events(queue_url: str) -> JobEvents:
    return JobEvents(queue_url)


@lru_cache(maxsize=4)
def get_process_queue(queue_url: str) -> ProcessQueue:
    return ProcessQueue(queue_url)
