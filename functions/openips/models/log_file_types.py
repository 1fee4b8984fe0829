"""Job Log File Types (spec §8.7): the ``assetType`` a job-log row gives the asset it names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class LogFileType(StrEnum):
    MASTER_IMAGE = "MasterImage"
    ICC_PROFILE = "IccProfile"
    ZIP = "Zip"
    PDF = "Pdf"
    VIDEO = "Video"
    THUMBNAIL = "Thumbnail"
    CATALOG = "Catalog"
    PSD_TEMPLATE = "PsdTemplate"
    NO_TYPE = "NoType"  # the list has no value for the asset (PostScript, Illustrator, InDesign)


@dataclass(frozen=True)
class LogFileTypes:
    """What a format's file rows say: one type for the format, and the asset types whose rows differ.

    ``of`` always answers (there is no lookup that can fail): a format declares ``default`` or
    cannot be registered at all.
    """

    default: LogFileType
    by_asset_type: Mapping[str, LogFileType] = field(default_factory=lambda: MappingProxyType({}))

    def of(self, asset_type: str) -> LogFileType:
        return self.by_asset_type.get(asset_type, self.default)
