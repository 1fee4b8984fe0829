"""The registry of formats (``services.ingest``): every file option of ``UploadPostJob`` has its
format, every file exactly one format, decided from one read of its first bytes, and every row a
format writes has a job-log file type (issue 14, item 1)."""

from __future__ import annotations

import builtins
import gzip
import io
import tarfile
import zipfile
from dataclasses import fields, replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openips.imaging.options import ProcessingOptions
from openips.models.domain import Job, JobState, utcnow
from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.models.outcomes import FileOutcome
from openips.models.upload_job import NOT_YET_APPLIED, UploadPostJob
from openips.services import processing
from openips.services.ingest import registry
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import Content, finish_file
from openips.services.ingest.sniff import HEAD_BYTES, Sniff
from tests.fakes import INCOMING, memory_deps, tenant

BY_OPTION = {f.option: f for f in registry.FORMATS if f.option}
RASTER = next(f for f in registry.FORMATS if f.name == "raster image")
ICC = next(f for f in registry.FORMATS if f.name == "ICC profile")

# ---- every file option has its format -----------------------------------------------------------------------

# UploadPostJob's other ``*_options``, and where they are applied instead.
IMAGE_OPTIONS = {f"{field.name}_options" for field in fields(ProcessingOptions)} | {"color_management_options"}
JOB_WIDE = {"metadata_options",  # every asset the job makes (ingest.outcome)
            "auto_set_creation_options"}  # sets, built when the job ends (services.set_presets)


def _snake(wire_name: str) -> str:
    return next(name for name, f in UploadPostJob.model_fields.items() if (f.alias or name) == wire_name)


def test_every_file_option_of_upload_post_job_has_exactly_one_format_named_after_it():
    options = {name for name in UploadPostJob.model_fields if name.endswith("_options")}
    not_yet = {_snake(name) for name in NOT_YET_APPLIED}
    file_options = options - IMAGE_OPTIONS - JOB_WIDE - not_yet
    registered = [f.option for f in registry.FORMATS if f.option]
    assert sorted(registered) == sorted(set(registered)), "one format per file option"
    assert set(registered) == file_options
    for option, found in BY_OPTION.items():  # one module per Scene7 file option, named after it
        assert found.ingest.__module__ == f"openips.services.ingest.{option}"


# ---- every file has exactly one format --------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(64)
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
DOS_EPS = b"\xc5\xd0\xd3\xc6" + bytes(28)
INDESIGN = bytes.fromhex("0606EDF5D81D46E5BD31EFE7FE74B71D") + bytes(100) + b"%PDF-"
PSD = b"8BPS\x00\x01" + bytes(32)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.jpg", JPEG)
    return buffer.getvalue()


def _tar(compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as archive:
        info = tarfile.TarInfo("a.jpg")
        info.size = len(JPEG)
        archive.addfile(info, io.BytesIO(JPEG))
    return buffer.getvalue()


RECOGNITION = [
    (JPEG, "jpg", "raster image"),
    (PNG, "png", "raster image"),
    (JPEG, "ai", "raster image"),  # an .ai file that is neither PDF nor PostScript is an image to libvips
    (JPEG, "eps", "post_script_options"),  # the extension promises PostScript: claimed, then refused
    (_zip(), "zip", "un_compress_options"),
    (_zip(), "pdf", "un_compress_options"),  # content, never the extension
    (_tar(), "tar", "un_compress_options"),
    (_tar(compress=True), "tgz", "un_compress_options"),
    (gzip.compress(JPEG, mtime=0), "gz", "raster image"),  # a gzip stream that is no TAR is no archive
    (PDF, "pdf", "pdf_options"),
    (PDF, "ai", "illustrator_options"),
    (POSTSCRIPT, "ai", "illustrator_options"),
    (DOS_EPS, "ai", "illustrator_options"),
    (POSTSCRIPT, "eps", "post_script_options"),
    (POSTSCRIPT, "ps", "post_script_options"),
    (DOS_EPS, "eps", "post_script_options"),
    (INDESIGN, "indd", "in_design_options"),  # its GUID wins over the %PDF- further on
    (PSD, "psd", "photoshop_options"),
    (PSD, "icc", "ICC profile"),  # named as a profile: a profile, or refused
    (JPEG, "icm", "ICC profile"),
    (MP4, "icc", "ICC profile"),  # ProcessFileFunction hands it over before that (below)
]


# Ids from the extension and the answer, never from the bytes (a gzip header holds a time: every
# xdist worker must collect the same ids).
@pytest.mark.parametrize(("data", "extension", "expected"), RECOGNITION,
                         ids=[f"{i}-{ext}-{expected}" for i, (_, ext, expected) in enumerate(RECOGNITION)])
def test_each_file_is_recognised_by_one_format(tmp_path, data, extension, expected):
    path = tmp_path / "source"
    path.write_bytes(data)
    chosen = registry.format_for(Sniff.of_file(str(path), extension), media_function=False)
    assert expected in (chosen.option, chosen.name)


def test_videos_go_to_the_media_function_which_ingests_whatever_it_is_given():
    video = Sniff(MP4, len(MP4), "mp4")
    assert registry.hands_over(video) and registry.hands_over(replace(video, extension="icc"))
    assert not registry.hands_over(Sniff(JPEG, len(JPEG), "mp4"))
    media = BY_OPTION["media_options"]
    assert registry.format_for(video, media_function=True) is media
    assert registry.format_for(Sniff(JPEG, len(JPEG), "jpg"), media_function=True) is media
    # ProcessFileFunction never ingests with PyAV: what the routing missed is treated as any other file.
    assert registry.format_for(video, media_function=False) is RASTER


@given(head=st.binary(max_size=2048), extension=st.sampled_from(["", "jpg", "eps", "ai", "icc", "pdf", "psd", "zip"]))
def test_every_file_has_a_format_and_it_is_the_first_that_recognises_it(head, extension):
    sniff = Sniff(head, len(head), extension)
    chosen = registry.format_for(sniff, media_function=False)
    assert chosen is next(f for f in registry.FORMATS if not f.media_function and f.recognises(sniff))
    assert registry.FORMATS[-1] is RASTER and RASTER.recognises(sniff)  # the catch-all comes last


def test_the_first_bytes_are_read_once_whatever_every_format_asks(tmp_path, monkeypatch):
    path = tmp_path / "source"
    path.write_bytes(PDF + bytes(3 * HEAD_BYTES))
    opened: list[str] = []
    real_open = builtins.open

    def counting(file, *args, **kwargs):
        if str(file) == str(path):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    sniff = Sniff.of_file(str(path), "pdf")
    assert [f.name for f in registry.FORMATS if f.recognises(sniff)] == ["PDF", "raster image"]
    registry.hands_over(sniff)
    registry.format_for(sniff, media_function=False)
    assert len(opened) == 1  # before the registry: one open per sniffer, about seven in all


# ---- every row has a job-log file type ----------------------------------------------------------------------

# Spec §8.7: what a file's row says for each asset type its format makes.
EXPECTED = {
    "raster image": {"Image": "MasterImage"},
    "ICC profile": {"IccProfile": "IccProfile"},
    "un_compress_options": {"Zip": "Zip"},
    "pdf_options": {"Pdf": "Pdf"},
    "illustrator_options": {"Illustrator": "NoType"},
    "in_design_options": {"InDesign": "NoType"},
    "photoshop_options": {"Image": "MasterImage"},
    "post_script_options": {"Image": "MasterImage", "PostScript": "NoType"},
    "media_options": {"Video": "Video", "MasterVideo": "Video"},
}


@pytest.mark.parametrize("found", registry.FORMATS, ids=lambda f: f.name)
def test_each_format_declares_the_job_log_file_type_of_its_rows_and_never_lacks_one(found):
    expected = EXPECTED[found.option or found.name]
    assert {asset_type: found.log_file_types.of(asset_type) for asset_type in expected} == expected
    # An asset type no one listed (a format grown tomorrow) still has a type: the format's own.
    assert found.log_file_types.of("HologramV2") is found.log_file_types.default


def test_a_format_cannot_be_registered_without_its_job_log_file_type():
    with pytest.raises(TypeError, match="log_file_types"):
        Format(name="x", option=None, recognises=lambda sniff: True, ingest=RASTER.ingest)  # type: ignore[call-arg]


def test_a_file_of_an_asset_type_its_format_does_not_list_is_logged_not_retried(monkeypatch):
    """On the in-memory repositories: processing → registry → a new format → finish_file → one row."""
    deps = memory_deps()
    company, user = tenant(deps)
    now = utcnow()
    options = UploadPostJob(overwrite=True, ready_for_publish=False, create_mask=False, email_setting="None")
    job = Job(job_handle="j-newformat", company_handle=company.company_handle, name="n", original_name="n",
              submit_user_handle=user.user_handle, submit_user_email=user.email, options=options,
              state=JobState.RUNNING, start_date=now - timedelta(seconds=1), last_activity=now)
    assert deps.jobs.create(job, [])
    obj = deps.storage.put(INCOMING, f"incoming/{company.company_handle}/{job.job_handle}/x.holo", b"any bytes")

    def ingest(upload):
        return finish_file(upload, Content(type="HologramV2", summary="a format added tomorrow"))

    tomorrow = Format(name="hologram", option=None, recognises=lambda sniff: sniff.extension == "holo",
                      log_file_types=LogFileTypes(LogFileType.NO_TYPE), ingest=ingest)
    monkeypatch.setattr(registry, "FORMATS", (tomorrow, *registry.FORMATS))
    assert processing.process_object(deps, obj, now) == FileOutcome.UPLOAD_SUCCESS
    (row,) = deps.logs.query(job.job_handle, ["UploadSuccess"], newest_first=False)
    assert (row.asset_type, row.asset_name) == ("NoType", "x")
    assert deps.claims.list_for_job(job.job_handle)[0].result == "UploadSuccess"
