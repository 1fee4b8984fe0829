"""An accepted browser upload stored in moto with ``PutObject``, so that moto's S3 notification
fires as ``ObjectCreated:Put``; the form's fields become PutObject's parameters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import IO, Any
from urllib.parse import urlencode

from openips_cli.s3front.errors import S3Error
from openips_cli.s3front.wire import log

# Form fields that stand for PutObject parameters ("Parameters that are passed to PUT through
# HTTP headers are instead passed as form fields", RESTObjectPOST).
_PUT_PARAMS = {
    "content-type": "ContentType", "cache-control": "CacheControl", "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding", "content-language": "ContentLanguage", "expires": "Expires",
    "content-md5": "ContentMD5", "acl": "ACL", "x-amz-storage-class": "StorageClass",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
}


def _tagging_query(document: str) -> str:
    """The ``tagging`` field's ``<Tagging>`` XML as the query-string form PutObject takes."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate "
                      "against our published schema") from None
    tags = [(tag.findtext("{*}Key") or "", tag.findtext("{*}Value") or "") for tag in root.iter()
            if tag.tag.rsplit("}", 1)[-1] == "Tag"]
    return urlencode(tags)


def put_object(s3: Any, bucket: str, key: str, fields: list[tuple[str, str]], body: IO[bytes], size: int) -> str:
    """PutObject into moto (``s3``: a boto3 client) with the form's PutObject fields; returns the quoted ETag."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.utils import parse_timestamp

    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentLength": size}
    metadata: dict[str, str] = {}
    for name, value in fields:
        lowered = name.lower()
        if lowered in _PUT_PARAMS:
            params.setdefault(_PUT_PARAMS[lowered], value)
        elif lowered.startswith("x-amz-meta-"):
            metadata.setdefault(lowered[len("x-amz-meta-"):], value)
        elif lowered == "tagging":
            params["Tagging"] = _tagging_query(value)
    if metadata:
        params["Metadata"] = metadata
    if "Expires" in params:
        try:
            params["Expires"] = parse_timestamp(params["Expires"])
        except (ValueError, TypeError, OverflowError):
            del params["Expires"]  # S3 keeps an unparsable Expires as text; boto3 can only send dates
    try:
        return s3.put_object(**params)["ETag"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
        raise S3Error(status, error.get("Code") or "InternalError", error.get("Message") or str(exc)) from exc
    except (BotoCoreError, OSError) as exc:
        log.error("storing %s/%s in moto failed: %s", bucket, key, exc)
        raise S3Error(503, "ServiceUnavailable", "Please reduce your request rate.") from exc
