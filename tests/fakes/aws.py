"""In-memory S3 and SQS with the methods of ``adapters/storage.py`` and ``adapters/queue.py`` the services call.

Enough for service rules: objects are bytes under (bucket, key) with an ETag; queues record
what was sent (and deferred, with its delay) for the test to deliver.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

from openips.models.events import IncomingObject


class NoSuchKey(Exception):
    pass


@dataclass
class FakeStorage:
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    metadata: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- what a test does -------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, source_ip: str | None = None) -> IncomingObject:
        """Store an object; the notification's object, as ProcessFile would decode it."""
        with self.lock:
            self.objects[(bucket, key)] = data
        return IncomingObject(bucket=bucket, key=key, size=len(data), version=self.etag(bucket, key),
                              source_ip=source_ip)

    def etag(self, bucket: str, key: str) -> str:
        return hashlib.md5(self.objects[(bucket, key)]).hexdigest()  # noqa: S324 - S3's ETag of a simple upload

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        with self.lock:
            return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    # ---- adapters.storage.Storage ---------------------------------------------------------------

    def presign_post(self, bucket: str, key_prefix: str, max_size: int,
                     ttl_seconds: int) -> tuple[str, dict[str, str], datetime]:
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=ttl_seconds)
        return f"https://s3.fake/{bucket}", {"key": key_prefix + "${filename}", "policy": "fake"}, expires

    def presign_get(self, bucket: str, key: str, file_name: str | None, seconds: int = 3600) -> str:
        return f"https://s3.fake/{bucket}/{key}"

    def _get(self, bucket: str, key: str) -> bytes:
        with self.lock:
            if (bucket, key) not in self.objects:
                raise NoSuchKey(f"s3://{bucket}/{key}")
            return self.objects[(bucket, key)]

    def download(self, bucket: str, key: str, path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(self._get(bucket, key))

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        data = self._get(bucket, key)
        if len(data) > max_bytes:
            raise ValueError(f"s3://{bucket}/{key} has {len(data)} bytes, over {max_bytes}")
        return data

    def read_prefix(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        with self.lock:
            data = self.objects.get((bucket, key))
        return None if data is None else data[:max_bytes]

    def range_reader(self, bucket: str, key: str) -> BytesRangeReader | None:
        with self.lock:
            data = self.objects.get((bucket, key))
        return None if data is None else BytesRangeReader(data)

    def head_size(self, bucket: str, key: str) -> int | None:
        with self.lock:
            data = self.objects.get((bucket, key))
        return None if data is None else len(data)

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
             metadata: dict[str, str] | None = None) -> None:
        data = self._get(src_bucket, src_key)
        with self.lock:
            self.objects[(dst_bucket, dst_key)] = data

    def upload(self, path: str, bucket: str, key: str, content_type: str) -> None:
        with open(path, "rb") as fh:
            data = fh.read()
        with self.lock:
            self.objects[(bucket, key)] = data

    def upload_stream(self, stream: IO[bytes], bucket: str, key: str, metadata: dict[str, str] | None = None) -> None:
        with self.lock:
            self.objects[(bucket, key)] = stream.read()
            self.metadata[(bucket, key)] = dict(metadata or {})

    def user_metadata(self, bucket: str, key: str) -> dict[str, str]:
        with self.lock:
            return dict(self.metadata.get((bucket, key), {}))

    def delete(self, bucket: str, key: str) -> None:
        with self.lock:
            self.objects.pop((bucket, key), None)

    def count_objects(self, bucket: str, prefix: str) -> int:
        return len(self.keys(bucket, prefix))

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, str, int]]:
        for key in self.keys(bucket, prefix):
            yield key, self.etag(bucket, key), len(self.objects[(bucket, key)])

    def delete_many(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self.delete(bucket, key)


@dataclass
class BytesRangeReader:
    """``Storage.range_reader``'s reader over bytes in memory; counts what was read."""

    data: bytes
    bytes_read: int = 0

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        chunk = self.data[offset:offset + length]
        self.bytes_read += len(chunk)
        return chunk


@dataclass
class FakeQueue:
    """``ProcessQueue``: sent bodies, and deferred ones with their delay."""

    sent: list[str] = field(default_factory=list)
    deferred: list[tuple[str, int]] = field(default_factory=list)

    def send(self, body: str) -> None:
        self.sent.append(body)

    def defer(self, body: str, delay_seconds: int) -> None:
        self.deferred.append((body, delay_seconds))


@dataclass
class FakeJobEvents:
    """``JobEvents``: the JobFinished events sent (job handles), and bodies sent again."""

    finished: list[str] = field(default_factory=list)
    again: list[str] = field(default_factory=list)

    def job_finished(self, job_handle: str, company_handle: str) -> None:
        self.finished.append(job_handle)

    def send_again(self, body: str) -> None:
        self.again.append(body)

