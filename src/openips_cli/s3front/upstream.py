"""The moto server behind the front: a connection per proxied request, presigned requests
signed again in headers for it, and a boto3 client for the uploads the front stores."""

from __future__ import annotations

from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSRequest

from openips_cli.s3front.signing import UNSIGNED_PAYLOAD, Signer


class Upstream:
    """The moto server behind the front."""

    def __init__(self, url: str, region: str, timeout: float) -> None:
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"moto_url must be an http(s) URL, not {url!r}")
        self.url = url.rstrip("/")
        self.netloc = split.netloc
        self.region = region
        self.timeout = timeout
        self._split = split

    def connect(self) -> HTTPConnection:
        cls = HTTPSConnection if self._split.scheme == "https" else HTTPConnection
        return cls(self._split.hostname, self._split.port, timeout=self.timeout)

    def signed_headers(self, method: str, target: str, access_key: str, secret: str) -> dict[str, str]:
        """``Authorization``, ``X-Amz-Date``, ``X-Amz-Content-SHA256`` for ``target`` here, signed by botocore."""
        request = AWSRequest(method=method, url=self.url + target)
        Signer(access_key, secret, self.region, UNSIGNED_PAYLOAD).add_auth(request)
        return {name: request.headers[name] for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256")}

    def s3_client(self, access_key: str, secret: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.url, region_name=self.region, aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 3, "mode": "standard"}))
