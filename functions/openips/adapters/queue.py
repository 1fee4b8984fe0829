"""SQS: the job-events queue that wakes FinalizeJobFunction. The only boto3 SQS user."""

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


@lru_cache(maxsize=2)
def get_job_events(queue_url: str) -> JobEvents:
    return JobEvents(queue_url)
