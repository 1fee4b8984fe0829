"""imaging.ghostscript (and imaging.eps's Ghostscript route): a real gs, isolated, against hand-written PostScript.

Every test that runs gs skips without one, unless OPENIPS_REQUIRE_GS=1 (set by .ci/run), which
makes a missing gs a failure: the isolation below must be tested where it ships.
"""

from __future__ import annotations

import os
import time

import pytest

from openips.imaging import eps, ghostscript
from openips.models.errors import FileRejectedError
from tests.eps_files import WORDS, cmyk_eps, dos_eps, hostile_eps, tiff_preview, two_page_ps, vector_eps

pyvips = pytest.importorskip("pyvips")

FAST = ghostscript.Limits(timeout_seconds=3, memory_bytes=384 * ghostscript.MiB)


@pytest.fixture(scope="module")
def gs() -> str:
    from tests.eps_files import require_ghostscript

    return require_ghostscript()


def run(gs: str, tmp_path, data: bytes, *, ppi: float = 72, device: ghostscript.Device = "png16m",
        limits: ghostscript.Limits = FAST, name: str = "file.eps") -> ghostscript.Rendering:
    source = tmp_path / name
    source.write_bytes(data)
    info = eps.read_eps(str(source))
    spec = eps.ghostscript_page(info)
    page = ghostscript.page_for(spec.width_pt, spec.height_pt, ppi, eps_crop=spec.eps_crop, max_pixels=10_000_000)
    workdir = tmp_path / "work"
    workdir.mkdir()
    return ghostscript.render(gs, str(source), str(workdir), page, device, limits)


def pixel(image, x: int, y: int) -> list[float]:
    return [round(v) for v in image(x, y)]


# ---------------------------------------------------------------- locating gs (no gs needed)

def test_locate_prefers_the_setting_then_the_layer_then_path(tmp_path, monkeypatch):
    fake = tmp_path / "gs"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert ghostscript.locate(str(fake)) == str(fake)
    assert ghostscript.locate(str(tmp_path / "missing")) is None  # configured but absent: not available
    monkeypatch.setattr(ghostscript, "LAYER_PATH", str(fake))
    assert ghostscript.locate() == str(fake)
    monkeypatch.setattr(ghostscript, "LAYER_PATH", str(tmp_path / "no-layer"))
    monkeypatch.setattr(ghostscript.shutil, "which", lambda name: f"/somewhere/{name}")
    assert ghostscript.locate() == "/somewhere/gs"
    monkeypatch.setattr(ghostscript.shutil, "which", lambda name: None)
    assert ghostscript.locate() is None


def test_the_pixel_cap_is_checked_before_anything_runs():
    assert ghostscript.page_for(200, 100, 144, eps_crop=True, max_pixels=10**6) == ghostscript.Page(400, 200, 144, True)
    with pytest.raises(ghostscript.PageTooLargeError) as refused:
        ghostscript.page_for(100_000, 100_000, 150, eps_crop=True, max_pixels=10**9)
    assert "would be 208333×208333 = 43402638889 pixels at 150 ppi" in refused.value.message
    assert "Ghostscript was not started" in refused.value.message
    assert isinstance(refused.value, FileRejectedError)


def test_the_page_comes_from_the_dsc_comments(tmp_path):
    def page(data: bytes) -> eps.GhostscriptPage:
        path = tmp_path / "f.ps"
        path.write_bytes(data)
        return eps.ghostscript_page(eps.read_eps(str(path)))

    assert page(vector_eps(200, 100, origin=(10, 20))) == eps.GhostscriptPage(
        200, 100, True, "the 200×100 pt bounding box")
    assert page(two_page_ps()).source == "the 200×100 pt %%DocumentMedia" and not page(two_page_ps()).eps_crop
    assert page(b"%!PS\n%%BoundingBox: 10 10 300 400\nshowpage\n") == eps.GhostscriptPage(
        300, 400, False, "a 300×400 pt page holding its %%BoundingBox")
    assert page(b"%!PS\nshowpage\n") == eps.GhostscriptPage(612, 792, False,
                                                       "US Letter (the file declares no page size)")
    # A box of any finite size is the page (then refused by the pixel cap); junk is ignored.
    huge = page(vector_eps(1e7, 1e7))
    assert (huge.width_pt, huge.eps_crop) == (1e7, True)
    assert page(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1e999 5\n").source.startswith("US Letter")


def test_colorspace_and_alpha_pick_the_device(tmp_path):
    path = tmp_path / "c.eps"
    path.write_bytes(cmyk_eps())
    cmyk = eps.read_eps(str(path))
    path.write_bytes(vector_eps())
    rgb = eps.read_eps(str(path))
    assert eps.render_plan(rgb, "Auto", False).device == "png16m"
    assert eps.render_plan(cmyk, "Auto", False).device == "pamcmyk32"  # %%DocumentProcessColors: Cyan Black
    assert eps.render_plan(rgb, "Cmyk", False).device == "pamcmyk32"
    assert eps.render_plan(cmyk, "Rgb", False).device == "png16m"
    assert eps.render_plan(rgb, "Gray", False).device == "pnggray"
    assert (eps.render_plan(rgb, "Gray", True).device, eps.render_plan(rgb, "Gray", True).space) == \
        ("pngalpha", "greyscale")


# ---------------------------------------------------------------- rendering

def test_renders_the_vector_page_at_the_resolution_cropped_to_the_bounding_box(gs, tmp_path):
    rendered = run(gs, tmp_path, vector_eps(200, 100, origin=(50, 70)), ppi=144)
    image = pyvips.Image.new_from_file(rendered.path)
    assert (image.width, image.height, image.bands) == (400, 200, 3) == (rendered.width, rendered.height, 3)
    assert pixel(image, 10, 100) == [255, 0, 0]  # left half red: the origin moved to the box (-dEPSCrop)
    assert pixel(image, 390, 10) == [255, 255, 255]  # right half unpainted: white paper
    assert rendered.seconds < FAST.timeout_seconds


def test_gray_cmyk_and_alpha_outputs(gs, tmp_path):
    (tmp_path / "g").mkdir()
    gray = pyvips.Image.new_from_file(run(gs, tmp_path / "g", vector_eps(), device="pnggray").path)
    assert (gray.bands, gray.interpretation) == (1, "b-w")
    assert 60 < pixel(gray, 10, 50)[0] < 160 and pixel(gray, 190, 10) == [255]  # red as mid grey; white paper

    (tmp_path / "c").mkdir()
    rendered = run(gs, tmp_path / "c", cmyk_eps(), device="pamcmyk32")
    plan = eps.render_plan(eps.read_eps(str(tmp_path / "c" / "file.eps")), "Auto", False)
    cmyk = pyvips.Image.new_from_file(eps.finish_rendering(rendered.path, plan, 200, 100, str(tmp_path / "c.tif")))
    assert (cmyk.bands, cmyk.interpretation, cmyk.width) == (4, "cmyk", 200)
    assert pixel(cmyk, 10, 50) == [0, 0, 0, 255]  # pure black ink stays K only (no rich black)
    assert pixel(cmyk, 190, 50) == [255, 0, 0, 0]  # pure cyan ink stays cyan

    (tmp_path / "a").mkdir()
    rgba = pyvips.Image.new_from_file(run(gs, tmp_path / "a", vector_eps(), device="pngalpha").path)
    assert rgba.bands == 4
    assert pixel(rgba, 10, 50) == [255, 0, 0, 255]
    assert pixel(rgba, 190, 10)[3] == 0  # nothing painted there: transparent


def test_alpha_with_gray_or_cmyk_is_converted_from_rgba(gs, tmp_path):
    rendered = run(gs, tmp_path, vector_eps(), device="pngalpha")
    info = eps.read_eps(str(tmp_path / "file.eps"))
    gray = pyvips.Image.new_from_file(eps.finish_rendering(rendered.path, eps.render_plan(info, "Gray", True), 200, 100,
                                                           str(tmp_path / "g.tif")))
    assert gray.bands == 2 and pixel(gray, 190, 10)[1] == 0
    cmyk = pyvips.Image.new_from_file(eps.finish_rendering(rendered.path, eps.render_plan(info, "Cmyk", True), 200, 100,
                                                           str(tmp_path / "c.tif")))
    assert (cmyk.bands, cmyk.interpretation) == (5, "cmyk") and pixel(cmyk, 190, 10)[4] == 0


def test_only_the_first_page_of_a_document_is_drawn(gs, tmp_path):
    rendered = run(gs, tmp_path, two_page_ps(), name="doc.ps")
    image = pyvips.Image.new_from_file(rendered.path)
    assert (image.width, image.height) == (200, 100) and pixel(image, 190, 5) == [255, 0, 0]  # page 1 is red
    assert sorted(os.listdir(tmp_path / "work")) == ["gs.log", "input.ps", "page-1.png"]


def test_a_dos_eps_postscript_section_is_rendered(gs, tmp_path):
    data = dos_eps(vector_eps(), tiff_preview(20, 10))
    (tmp_path / "f.eps").write_bytes(data)
    info = eps.read_eps(str(tmp_path / "f.eps"))
    eps.extract_section(str(tmp_path / "f.eps"), info.postscript, str(tmp_path / "section.ps"))
    assert (tmp_path / "section.ps").read_bytes() == vector_eps()


def test_text_is_extracted_for_search_words(gs, tmp_path):
    (tmp_path / "doc.ps").write_bytes(two_page_ps())
    text = ghostscript.extract_text(gs, str(tmp_path / "doc.ps"), str(tmp_path), ghostscript.Page(200, 100, 72, False),
                                    FAST)
    assert "first page" in text.text and "second page" in text.text  # every page, not just the first
    assert not text.truncated
    (tmp_path / "w").mkdir()
    (tmp_path / "v.eps").write_bytes(vector_eps())
    words = ghostscript.extract_text(gs, str(tmp_path / "v.eps"), str(tmp_path / "w"),
                                     ghostscript.Page(200, 100, 72, True), FAST)
    assert WORDS in words.text


def test_text_beyond_the_limit_is_cut_not_refused(gs, tmp_path):
    line = "(alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo) show"
    body = (f"/Helvetica findfont 6 scalefont setfont 0 1 1500 {{ pop 0 1 12 {{ 8 mul 4 add 2 exch moveto {line} }} "
            "for showpage } for")
    (tmp_path / "long.ps").write_bytes(f"%!PS\n{body}\n".encode())
    text = ghostscript.extract_text(gs, str(tmp_path / "long.ps"), str(tmp_path), ghostscript.Page(200, 100, 72, False),
                                    ghostscript.Limits(timeout_seconds=20, max_text_bytes=ghostscript.MiB))
    assert text.truncated and ghostscript.MiB - 64 * 1024 <= len(text.text) <= ghostscript.MiB
    assert text.text.lstrip().startswith("alpha bravo")


def test_version(gs):
    assert ghostscript.version(gs).split(".")[0].isdigit()


# ---------------------------------------------------------------- hostile PostScript

def test_an_infinite_loop_is_killed_by_the_time_limit(gs, tmp_path):
    started = time.monotonic()
    with pytest.raises(ghostscript.GhostscriptTimeoutError) as stopped:
        run(gs, tmp_path, hostile_eps("infinite_loop"), limits=ghostscript.Limits(timeout_seconds=1.5))
    assert time.monotonic() - started < 5
    assert stopped.value.message == "Ghostscript ran longer than 1.5 s and was stopped"


def test_a_memory_bomb_meets_the_memory_limit(gs, tmp_path):
    with pytest.raises(ghostscript.GhostscriptError) as stopped:
        run(gs, tmp_path, hostile_eps("memory_bomb"),
            limits=ghostscript.Limits(timeout_seconds=20, memory_bytes=256 * ghostscript.MiB))
    assert "VMerror (memory exhausted: the limit is 256 MiB)" in stopped.value.message or \
        "memory" in stopped.value.message, stopped.value.message


def test_safer_refuses_reading_files(gs, tmp_path):
    with pytest.raises(ghostscript.GhostscriptError) as refused:
        run(gs, tmp_path, hostile_eps("read_passwd"))
    assert refused.value.message == ("Ghostscript stopped with the PostScript error /invalidfileaccess (refused by "
                                     "-dSAFER) in --file--")
    assert "root:" not in (tmp_path / "work" / "gs.log").read_text(errors="replace")


@pytest.mark.parametrize("name", ["delete_file", "pipe_command", "pipe_output_device"])
def test_safer_refuses_deleting_files_and_running_commands(gs, tmp_path, name):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    # For the pipes, "victim" is what `touch` would create: remove it, and check it stays absent.
    if name != "delete_file":
        victim.unlink()
    with pytest.raises(ghostscript.GhostscriptError) as refused:
        run(gs, tmp_path, hostile_eps(name, victim=str(victim)))
    assert "PostScript error /" in refused.value.message
    assert victim.exists() == (name == "delete_file")
    if name == "delete_file":
        assert victim.read_text() == "keep me"


def test_deep_recursion_is_a_postscript_error(gs, tmp_path):
    with pytest.raises(ghostscript.GhostscriptError) as refused:
        run(gs, tmp_path, hostile_eps("deep_recursion"))
    assert "stackoverflow" in refused.value.message  # execstackoverflow or stackoverflow


def test_the_file_cannot_change_the_page_size(gs, tmp_path):
    rendered = run(gs, tmp_path, hostile_eps("huge_page_request"))
    image = pyvips.Image.new_from_file(rendered.path)
    assert (image.width, image.height) == (200, 100)  # -dFIXEDMEDIA: the 100000 pt page was not granted


def test_endless_output_meets_the_file_size_limit(gs, tmp_path):
    body = "{ (" + "x" * 60 + ") print } loop"
    with pytest.raises(ghostscript.GhostscriptError) as stopped:
        run(gs, tmp_path, vector_eps(body=body), limits=ghostscript.Limits(timeout_seconds=20))
    assert stopped.value.message == "Ghostscript tried to write a file larger than its limit and was stopped"
    assert (tmp_path / "work" / "gs.log").stat().st_size <= 2 * 200 * 100 * 3 + 16 * ghostscript.MiB


def test_gs_gets_an_empty_environment(gs, tmp_path, monkeypatch):
    # gs reads GS_OPTIONS (extra arguments, here code run before the file) and GS_LIB from its
    # environment: the worker's must never reach it.
    monkeypatch.setenv("GS_OPTIONS", "-c (LEAKED) print flush")
    monkeypatch.setenv("GS_LIB", str(tmp_path))
    rendered = run(gs, tmp_path, vector_eps())
    assert (rendered.width, rendered.height) == (200, 100)
    assert "LEAKED" not in (tmp_path / "work" / "gs.log").read_text(errors="replace")


def test_a_page_that_draws_nothing_or_fails_has_clear_reasons(gs, tmp_path):
    with pytest.raises(ghostscript.GhostscriptError) as failed:
        run(gs, tmp_path, vector_eps(body="1 0 div"))
    assert failed.value.message == "Ghostscript stopped with the PostScript error /undefinedresult in --div--"
    assert str(tmp_path) not in failed.value.message


def test_a_gs_that_cannot_start_is_an_error(tmp_path):
    broken = tmp_path / "gs"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    ghostscript.version.cache_clear()
    with pytest.raises(ghostscript.GhostscriptError) as failed:
        ghostscript.version(str(broken))
    assert failed.value.message.startswith("Ghostscript cannot be started (Exec format error")


def test_limits_are_derived_sensibly():
    limits = ghostscript.Limits(timeout_seconds=2.5, memory_bytes=1024 * ghostscript.MiB)
    assert limits.cpu_seconds == 4  # the wall clock (3 s, rounded up) fires first; CPU is the backstop
    assert limits.max_bitmap == 256 * ghostscript.MiB
