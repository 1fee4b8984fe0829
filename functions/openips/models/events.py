"""S3 event notifications as they arrive through SQS (lenient: moto omits fields AWS sends)."""

from typing import Self
from urllib.parse import unquote_plus

from pydantic import ConfigDict, Field

from openips.models.base import Model


class _Lenient(Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3ObjectRef(_Lenient):
    key: str
    size: int = 0
    e_tag: str | None = Field(default=None, alias="eTag")
    sequencer: str | None = None
    version_id: str | None = Field(default=None, alias="versionId")


class S3BucketRef(_Lenient):
    name: str


class S3Entity(_Lenient):
    bucket: S3BucketRef
    object: S3ObjectRef


class RequestParameters(_Lenient):
    source_ip_address: str | None = Field(default=None, alias="sourceIPAddress")


class S3Record(_Lenient):
    event_name: str = Field(alias="eventName")
    s3: S3Entity
    request_parameters: RequestParameters | None = Field(default=None, alias="requestParameters")


class S3Notification(_Lenient):
    """The body of one ProcessQueue message: ``Records`` or an ``s3:TestEvent``."""

    records: list[S3Record] = Field(default_factory=list, alias="Records")
    event: str | None = Field(default=None, alias="Event")

    @property
    def is_test_event(self) -> bool:
        return self.event == "s3:TestEvent"


class IncomingObject(Model):
    """One uploaded object, decoded from its notification."""

    bucket: str
    key: str
    size: int
    version: str
    source_ip: str | None = None

    @classmethod
    def from_record(cls, record: S3Record) -> Self:
        obj = record.s3.object
        ip = record.request_parameters.source_ip_address if record.request_parameters else None
        # Keys arrive URL-encoded (moto encodes "/" too). The ETag names the content, and
        # bucket listings carry it too, which lets the finalizer match objects to claims.
        return cls(bucket=record.s3.bucket.name, key=unquote_plus(obj.key), size=obj.size,
                   version=normalize_etag(obj.e_tag or obj.version_id or obj.sequencer or ""), source_ip=ip)


def normalize_etag(etag: str) -> str:
    return etag.strip('"')
