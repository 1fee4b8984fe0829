"""SQS: NotificationQueue, which carries webhook delivery attempts (and their delay hops)
and re-send requests to NotificationFunction."""

from __future__ import annotations

import json
from functools import lru_cache

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum


class NotificationQueue:
    def __init__(self, queue_url: str) -> None:
        import boto3  # with the client, not the module: the API function's cold start rarely re-sends

        self.sqs = boto3.client("sqs")
        self.queue_url = queue_url

    def send(self, body: dict, delay_seconds: int = 0) -> None:
        if not self.queue_url:
            raise RuntimeError("NOTIFICATION_QUEUE_URL is not set")
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body),
                              DelaySeconds=max(0, min(int(delay_seconds), MAX_DELAY_SECONDS)))


@lru_cache(maxsize=2)
def get_notification_queue(queue_url: str) -> NotificationQueue:
    return NotificationQueue(queue_url)
