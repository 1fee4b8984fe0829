"""Archive planning on crafted archives: formats by content, hostile members, bombs, damage."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import zipfile
from pathlib import Path

import pytest

from openips.services.archives import ArchiveRefusedError, Limits, archive_kind, opened, plan_extraction

LIMITS = Limits(max_member_bytes=10 * 1024**2)


def make_zip(path: Path, members: dict[str, bytes], mode: int | None = None, encrypt: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            entry = zipfile.ZipInfo(name)
            if mode is not None and name.startswith("link"):
                entry.external_attr = mode << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    if encrypt:  # zipfile cannot write encrypted members: set the flag in the central directory
        raw = bytearray(path.read_bytes())
        at = raw.index(b"PK\x01\x02")
        while True:
            name_len = int.from_bytes(raw[at + 28:at + 30], "little")
            if raw[at + 46:at + 46 + name_len] == encrypt.encode():
                raw[at + 8] |= 0x1
                break
            at = raw.index(b"PK\x01\x02", at + 4)
        path.write_bytes(bytes(raw))
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], compressed: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if compressed else "w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_formats_are_recognised_by_content_not_extension(tmp_path):
    assert archive_kind(str(make_zip(tmp_path / "photo.jpg", {"a.jpg": b"x"}))) == "zip"
    assert archive_kind(str(make_tar(tmp_path / "a.zip", [("a.jpg", b"x")]))) == "tar"
    assert archive_kind(str(make_tar(tmp_path / "a.bin", [("a.jpg", b"x")], compressed=True))) == "tar.gz"
    plain_gz = tmp_path / "notes.gz"
    plain_gz.write_bytes(gzip.compress(b"just text, not a tar" * 40))
    assert archive_kind(str(plain_gz)) is None
    jpeg = tmp_path / "a.zip"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(600))
    assert archive_kind(str(jpeg)) is None


def test_a_clean_zip_is_planned_in_order_with_macos_metadata_skipped(tmp_path):
    path = make_zip(tmp_path / "pack.zip", {
        "shoes/": b"", "shoes/red.jpg": b"red", "shoes/blue.jpg": b"blue", "__MACOSX/shoes/._red.jpg": b"m",
        ".DS_Store": b"d", "top.png": b"t"})
    plan = plan_extraction(str(path), "zip", path.stat().st_size, LIMITS)
    assert [m.path for m in plan.members] == ["shoes/red.jpg", "shoes/blue.jpg", "top.png"]
    assert plan.skipped == 2 and plan.refused == [] and plan.total_bytes == 8
    with opened(str(path), "zip") as open_member:
        with open_member(plan.members[1]) as stream:
            assert stream.read() == b"blue"


def test_hostile_zip_members_are_refused_one_by_one(tmp_path):
    path = make_zip(tmp_path / "evil.zip", {
        "ok.jpg": b"fine", "../escape.jpg": b"x", "/etc/passwd": b"x", "C:/win.ini": b"x",
        "dir\\file.jpg": b"x", "a/./b.jpg": b"x", "linkme": b"/etc/shadow", "secret.jpg": b"x"},
        mode=0o120777, encrypt="secret.jpg")
    plan = plan_extraction(str(path), "zip", path.stat().st_size, LIMITS)
    assert [m.path for m in plan.members] == ["ok.jpg"]
    reasons = dict(plan.refused)
    assert "climbs out" in reasons["../escape.jpg"]
    assert "absolute" in reasons["/etc/passwd"] and "absolute" in reasons["C:/win.ini"]
    assert "backslash" in reasons["dir\\file.jpg"]
    assert "a/./b.jpg" in reasons  # a '.' segment is refused by the path rules
    assert "link" in reasons["linkme"] and "encrypted" in reasons["secret.jpg"]


def test_duplicate_and_oversized_members(tmp_path):
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("a.jpg", b"one")
        archive.writestr("./a.jpg", b"two")
        archive.writestr("a.jpg", b"three")
        archive.writestr("big.tif", bytes(2048))
    plan = plan_extraction(str(path), "zip", path.stat().st_size, Limits(max_member_bytes=1024, max_ratio=10**6))
    assert [m.path for m in plan.members] == ["a.jpg"]
    assert [why for _, why in plan.refused] == [
        "another member has the same path", "another member has the same path",
        "it has 2048 bytes; the limit is 1024"]


def test_tar_links_devices_and_fifos_are_refused(tmp_path):
    path = make_tar(tmp_path / "t.tar", [
        ("./shoes/red.jpg", b"red"), special("sym.jpg", tarfile.SYMTYPE, "/etc/passwd"),
        special("hard.jpg", tarfile.LNKTYPE, "shoes/red.jpg"), special("dev", tarfile.CHRTYPE),
        special("blk", tarfile.BLKTYPE), special("fifo", tarfile.FIFOTYPE), special("shoes", tarfile.DIRTYPE),
        ("../../up.jpg", b"x")])
    plan = plan_extraction(str(path), "tar", path.stat().st_size, LIMITS)
    assert [m.path for m in plan.members] == ["shoes/red.jpg"]
    reasons = dict(plan.refused)
    assert "link" in reasons["sym.jpg"] and "link" in reasons["hard.jpg"]
    assert all("special file" in reasons[n] for n in ("dev", "blk", "fifo"))
    assert "climbs out" in reasons["../../up.jpg"]
    with opened(str(path), "tar") as open_member, open_member(plan.members[0]) as stream:
        assert stream.read() == b"red"


def test_decompression_bombs_and_too_many_members_refuse_the_whole_archive(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", {f"zeros{i}.raw": bytes(1024**2) for i in range(4)})
    with pytest.raises(ArchiveRefusedError, match="expands more than 200 times"):
        plan_extraction(str(bomb), "zip", bomb.stat().st_size, LIMITS)
    with pytest.raises(ArchiveRefusedError, match="add up to more than 1000000 bytes"):
        plan_extraction(str(bomb), "zip", bomb.stat().st_size, Limits(10**9, max_total_bytes=10**6, max_ratio=10**6))
    tgz = make_tar(tmp_path / "bomb.tgz", [(f"z{i}", bytes(1024**2)) for i in range(4)], compressed=True)
    with pytest.raises(ArchiveRefusedError, match="decompression bomb"):
        plan_extraction(str(tgz), "tar.gz", tgz.stat().st_size, LIMITS)
    many = make_zip(tmp_path / "many.zip", {f"f{i}.jpg": b"x" for i in range(30)})
    with pytest.raises(ArchiveRefusedError, match="more than 25 files"):
        plan_extraction(str(many), "zip", many.stat().st_size, Limits(10**6, max_members=25))


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_archives_are_refused_as_damaged(tmp_path, cut):
    whole = make_zip(tmp_path / "whole.zip", {f"f{i}.jpg": bytes(range(256)) * 40 for i in range(5)})
    data = whole.read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ArchiveRefusedError, match="damaged"):
        plan_extraction(str(broken), "zip", broken.stat().st_size, LIMITS)
    noise = random.Random(7).randbytes  # incompressible, so the ratio check stays out of the way
    tgz = make_tar(tmp_path / "w.tgz", [(f"f{i}", noise(20_000)) for i in range(5)], compressed=True)
    cut_tgz = tmp_path / "cut.tgz"
    cut_tgz.write_bytes(tgz.read_bytes()[: int(tgz.stat().st_size * cut)])
    with pytest.raises(ArchiveRefusedError, match="damaged"):
        plan_extraction(str(cut_tgz), "tar.gz", cut_tgz.stat().st_size, LIMITS)
