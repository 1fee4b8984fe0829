"""IPS naming rules (spec §9.1–§9.2) as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openips.models.domain import Asset
from openips.models.errors import InvalidPathError
from openips.services import naming


@pytest.mark.parametrize(("dest", "rel", "folder", "file_name", "asset", "ext"), [
    ("", "red.jpg", "", "red.jpg", "red", "jpg"),
    ("shoes/", "red.JPG", "shoes/", "red.JPG", "red", "jpg"),
    ("/shoes//men/", "a/b/Red Shoe.tif", "shoes/men/a/b/", "Red Shoe.tif", "Red Shoe", "tif"),
    ("", "sale: 50% off+new.jpg", "", "sale: 50% off+new.jpg", "sale 50 offnew", "jpg"),
    ("", "archive.tar.gz", "", "archive.tar.gz", "archive.tar", "gz"),
    ("", ".hidden", "", ".hidden", ".hidden", ""),
    ("", "noext", "", "noext", "noext", ""),
    ("", "ünïcödé.png", "", "ünïcödé.png", "ünïcödé", "png"),
])
def test_target_path(dest, rel, folder, file_name, asset, ext):
    target = naming.target_path(dest, rel)
    assert (target.folder, target.file_name, target.asset_name, target.extension) == (folder, file_name, asset, ext)


@pytest.mark.parametrize("rel", ["../x.jpg", "a/../../x.jpg", "./x.jpg", "a//b.jpg", "/abs.jpg", "dir/",
                                 "a\\b.jpg", "bad\x00name.jpg", "tab\tname.jpg", "%$@.jpg", "", "x" * 1000 + ".jpg"])
def test_hostile_paths_are_refused(rel):
    with pytest.raises(InvalidPathError):
        naming.target_path("", rel)


def test_dest_folder_traversal_is_refused():
    with pytest.raises(InvalidPathError):
        naming.normalize_folder("a/../../b")


def test_suffixes():
    assert [naming.suffixed("chair", n) for n in range(3)] == ["chair", "chair-1", "chair-2"]


def _asset(folder: str, ext: str) -> Asset:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Asset(asset_handle="a-x", company_handle="c-x", name="chair", folder=folder, file_name=f"chair.{ext}",
                 extension=ext, publish_state="MarkedForPublish", file_size=1, master_key="k",
                 created_job_handle="j", updated_job_handle="j", created=now, updated=now, last_claim="c")


@pytest.mark.parametrize(("mode", "folder", "ext", "expected"), [
    ("OverwriteFullName", "a/", "jpg", True),
    ("OverwriteFullName", "a/", "tif", False),
    ("OverwriteFullName", "b/", "jpg", False),
    ("OverwriteAnyExt", "a/", "tif", True),
    ("OverwriteAnyExt", "b/", "jpg", False),
    ("OverwriteFullNameAnyFolder", "b/", "jpg", True),
    ("OverwriteFullNameAnyFolder", "b/", "tif", False),
    ("OverwriteAnyExtAnyFolder", "b/", "tif", True),
])
def test_overwrite_rule_of_each_mode(mode, folder, ext, expected):
    target = naming.target_path(folder, f"chair.{ext}")
    assert naming.overwrite_matches(mode, _asset("a/", "jpg"), target) is expected
