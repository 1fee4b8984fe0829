"""S3: presigned forms and URLs, object moves, downloads. The only boto3 S3 user."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import IO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from openips.models.errors import TransientError

_SIGV4 = Config(signature_version="s3v4", s3={"addressing_style": "path"})


class Storage:
    def __init__(self, public_endpoint: str | None = None) -> None:
        self.s3 = boto3.client("s3", config=_SIGV4)
        # The local stack hands out URLs of its S3 front, which sits before moto.
        self.signer = (boto3.client("s3", config=_SIGV4, endpoint_url=public_endpoint)
                       if public_endpoint else self.s3)

    def presign_post(self, bucket: str, key_prefix: str, max_size: int,
                     ttl_seconds: int) -> tuple[str, dict[str, str], datetime]:
        """A form that accepts any key under ``key_prefix`` up to ``max_size`` bytes.

        Returns the URL, the form fields and the expiry written into the signed policy.
        """
        form = self.signer.generate_presigned_post(
            bucket, key_prefix + "${filename}",
            Conditions=[["starts-with", "$key", key_prefix], ["content-length-range", 0, max_size]],
            ExpiresIn=ttl_seconds,
        )
        policy = json.loads(base64.b64decode(form["fields"]["policy"]))
        expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        return form["url"], form["fields"], expires

    def presign_get(self, bucket: str, key: str, file_name: str | None, seconds: int = 3600) -> str:
        params = {"Bucket": bucket, "Key": key}
        if file_name:
            params["ResponseContentDisposition"] = content_disposition(file_name)
        return self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

    def download(self, bucket: str, key: str, path: str) -> None:
        self._call(self.s3.download_file, bucket, key, path)

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """A small object's bytes (profiles); refuses objects over ``max_bytes``."""
        response = self._call(self.s3.get_object, Bucket=bucket, Key=key)
        if response["ContentLength"] > max_bytes:
            raise ValueError(f"s3://{bucket}/{key} has {response['ContentLength']} bytes, over {max_bytes}")
        return response["Body"].read()

    def read_prefix(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        """The first ``max_bytes`` of an object (one ranged GET, for content sniffing); None when it is gone."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in {"404", "NoSuchKey", "NotFound"}:
                return None
            if code == "InvalidRange":  # S3 answers a range on an empty object this way
                return b""
            raise _translate(exc) from exc
        return response["Body"].read(max_bytes)

    def range_reader(self, bucket: str, key: str) -> S3RangeReader | None:
        """Random access to an object by ranged GETs (renditions read a pyramid's tiles, never the whole
        file); None when it is gone. Its first ``PREFETCH_BYTES`` (the TIFF header and, usually, its
        directories) come with the one GET that also tells the size and the version."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{PREFETCH_BYTES - 1}")
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            # AccessDenied too: a role without s3:ListBucket (DeliveryFunction's) is told so of a missing key.
            if code in {"404", "NoSuchKey", "NotFound", "403", "AccessDenied"}:
                return None
            if code == "InvalidRange":  # an empty object
                return S3RangeReader(self.s3, bucket, key, b"", 0, "")
            raise _translate(exc) from exc
        head = response["Body"].read()
        # "bytes 0-65535/1234567"; a whole small object may come without Content-Range.
        content_range = response.get("ContentRange") or ""
        size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else len(head)
        return S3RangeReader(self.s3, bucket, key, head, size, response.get("ETag", ""))

    def head_size(self, bucket: str, key: str) -> int | None:
        try:
            return self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise _translate(exc) from exc

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
             metadata: dict[str, str] | None = None) -> None:
        # Managed copy: multipart above 8 MB, so masters of any size up to 5 TB move.
        extra = {"Metadata": metadata, "MetadataDirective": "REPLACE"} if metadata else None
        self._call(self.s3.copy, {"Bucket": src_bucket, "Key": src_key}, dst_bucket, dst_key, ExtraArgs=extra)

    def upload(self, path: str, bucket: str, key: str, content_type: str) -> None:
        self._call(self.s3.upload_file, path, bucket, key, ExtraArgs={"ContentType": content_type})

    def upload_stream(self, stream: IO[bytes], bucket: str, key: str, metadata: dict[str, str] | None = None) -> None:
        """Stream a file-like object to S3 (multipart above 8 MB), e.g. an archive member; ``metadata`` is
        the object's user metadata (``x-amz-meta-*``)."""
        extra = {"ExtraArgs": {"Metadata": metadata}} if metadata else {}
        self._call(self.s3.upload_fileobj, stream, bucket, key, **extra)

    def user_metadata(self, bucket: str, key: str) -> dict[str, str]:
        """The object's user metadata (``x-amz-meta-*``, names in lower case); empty when it is gone."""
        try:
            return self.s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return {}
            raise _translate(exc) from exc

    def delete(self, bucket: str, key: str) -> None:
        self._call(self.s3.delete_object, Bucket=bucket, Key=key)

    def count_objects(self, bucket: str, prefix: str) -> int:
        paginator = self.s3.get_paginator("list_objects_v2")
        return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=bucket, Prefix=prefix))

    def list_objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, str, int]]:
        """(key, ETag without quotes, size) of every object under ``prefix``."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["ETag"].strip('"'), obj["Size"]

    def delete_many(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys a call
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            result = self._call(self.s3.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                raise TransientError(f"S3 refused to delete {len(result['Errors'])} objects")

    @staticmethod
    def _call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc


# One GET brings the TIFF header and its first directories with the size: most pyramids need no other
# request for their structure (a 256 px level's tiles may come with it too).
PREFETCH_BYTES = 64 * 1024


class ObjectReplacedError(TransientError):
    """The object changed between two ranged reads (a re-upload): the reader's bytes would mix two files."""


class S3RangeReader:
    """One S3 object read by ranges (``models.rendition.RangeReader``); counts what it fetched.

    Every read after the first is pinned to the first one's ETag (``If-Match``), so a re-upload in
    between is an ``ObjectReplacedError``, never tiles of two files in one image.
    """

    def __init__(self, s3, bucket: str, key: str, head: bytes, size: int, etag: str) -> None:
        self._s3, self.bucket, self.key = s3, bucket, key
        self._head, self._size, self.etag = head, size, etag
        self._lock = threading.Lock()
        self.bytes_read = len(head)
        self.requests = 1

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"bad range {offset}+{length}")
        end = min(offset + length, self._size)
        if end <= offset:
            return b""
        if end <= len(self._head):
            return self._head[offset:end]
        extra = {"IfMatch": self.etag} if self.etag else {}
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={offset}-{end - 1}", **extra)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"PreconditionFailed", "412", "NoSuchKey", "404"}:
                raise ObjectReplacedError(f"s3://{self.bucket}/{self.key} was replaced while it was read") from exc
            raise _translate(exc) from exc
        data = response["Body"].read()
        with self._lock:  # a renderer may read tiles from several threads
            self.bytes_read += len(data)
            self.requests += 1
        return data


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one as RFC 5987 ``filename*``.

    A name holding ``"``, ``;``, a line break or non-ASCII letters can no longer end the
    header's value early or add a parameter of its own.
    """
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;' else "_" for ch in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def _translate(exc: ClientError) -> Exception:
    code = exc.response["Error"]["Code"]
    if code in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}:
        return TransientError(f"S3: {code}")
    return exc


@lru_cache(maxsize=2)
def get_storage(public_endpoint: str | None = None) -> Storage:
    return Storage(public_endpoint)
