"""Ghostscript as an isolated subprocess: render a PostScript page, or extract its text.

PostScript is a programming language, so an uploaded EPS/PS is untrusted *code*. It never runs
in the worker's process; each use is one ``gs`` process (docs/formats-postscript.md, "Isolation"):

* ``-dSAFER`` (also Ghostscript's default since 9.50): no file is opened, deleted or renamed
  except the input, the output and Ghostscript's own resources; no ``%pipe%`` (no commands run);
  device parameters such as ``OutputFile`` are locked.
* ``-dFIXEDMEDIA -dFIXEDRESOLUTION -g<w>x<h>``: the page size in pixels is decided here, from the
  DSC comments and ``resolution``, and checked against ``max_pixels`` *before* gs starts; a file's
  own ``setpagedevice`` cannot ask for a bigger page or a higher resolution.
* resource limits set in the child before ``exec``: address space (``RLIMIT_AS``), CPU seconds
  (``RLIMIT_CPU``), size of any file it writes (``RLIMIT_FSIZE``: output, band files, log), open
  files (``RLIMIT_NOFILE``), no core dumps; plus a wall-clock timeout that kills the process group.
* an empty environment (only ``TMPDIR``, pointing at the job's own directory), and a parent
  that is non-dumpable (``imaging.sandbox``), so gs cannot read the function's AWS credentials
  from ``/proc/<ppid>/environ`` either; stdin from /dev/null, the working directory a fresh directory holding only the input; file names given to gs
  are relative, so its messages never show a temporary path.

Lambda gives a subprocess no network namespace or seccomp filter, so "no network" rests on
PostScript having no socket operators and on SAFER forbidding ``%pipe%`` (docs).

No pyvips here: the caller (``imaging.eps``) turns the output into a raster for the pipeline.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from openips.imaging.sandbox import protect_process_memory
from openips.models.errors import FileRejectedError

LAYER_PATH = "/opt/bin/gs"  # where a Lambda layer's bin/gs is mounted
MiB = 1024 * 1024
LOG_TAIL_BYTES = 64 * 1024  # gs --version's answer is at the end of its output
VERSION_TIMEOUT_SECONDS = 10.0
INPUT_NAME = "input.ps"

Device = Literal["png16m", "pnggray", "pngalpha", "pamcmyk32"]
DEVICE_BANDS: dict[str, int] = {"png16m": 3, "pnggray": 1, "pngalpha": 4, "pamcmyk32": 4}
_EXTENSIONS = {"png16m": "png", "pnggray": "png", "pngalpha": "png", "pamcmyk32": "pam"}


class GhostscriptError(FileRejectedError):
    """Ghostscript could not render the file (it failed, ran out of a limit, or was not run)."""

    code = "postscript.ghostscript_failed"


class GhostscriptTimeoutError(GhostscriptError):
    code = "postscript.ghostscript_timeout"


class PageTooLargeError(GhostscriptError):
    """The page at the requested resolution is over the pixel limit: gs is not started."""

    code = "postscript.page_too_large"


@dataclass(frozen=True, slots=True)
class Limits:
    """What one gs process may use; defaults fit ProcessFileFunction (2048 MB)."""

    timeout_seconds: float = 60.0
    memory_bytes: int = 1536 * MiB
    max_text_bytes: int = 4 * MiB  # txtwrite output for extractSearchWords
    max_open_files: int = 64

    @property
    def cpu_seconds(self) -> int:
        # One second more than the wall clock: a busy loop meets the timeout first, and the CPU
        # limit is the backstop should the wall-clock kill ever not happen.
        return max(1, math.ceil(self.timeout_seconds)) + 1

    @property
    def max_bitmap(self) -> int:
        # Pages whose pixels fit in this are drawn in memory; bigger ones are banded through
        # band files in the working directory (bounded by RLIMIT_FSIZE), so memory stays bounded.
        return max(16 * MiB, min(256 * MiB, self.memory_bytes // 4))


@dataclass(frozen=True, slots=True)
class Page:
    """The device page: exact pixels, at ``resolution`` ppi; ``eps_crop`` moves the origin to the bounding box."""

    width: int
    height: int
    resolution: float
    eps_crop: bool


@dataclass(frozen=True, slots=True)
class Rendering:
    path: str
    device: Device
    width: int
    height: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    truncated: bool  # the output reached Limits.max_text_bytes
    seconds: float


def locate(configured: str | None = None) -> str | None:
    """The gs to run: ``configured`` (GHOSTSCRIPT_PATH), else the layer's /opt/bin/gs, else ``gs`` on PATH."""
    if configured:
        return configured if os.access(configured, os.X_OK) and os.path.isfile(configured) else None
    if os.access(LAYER_PATH, os.X_OK):
        return LAYER_PATH
    return shutil.which("gs")


@functools.lru_cache(maxsize=4)
def version(gs: str) -> str:
    """``gs --version`` (run with the same isolation); GhostscriptError when it does not run."""
    with _scratch_dir() as workdir:
        log = os.path.join(workdir, "version.log")
        limits = Limits(timeout_seconds=VERSION_TIMEOUT_SECONDS)
        code, seconds = _run([gs, "--version"], workdir, log, limits, file_bytes=MiB)
        text = _tail(log).strip()
    if code != 0 or not re.fullmatch(r"\d+(\.\d+)+", text):
        raise GhostscriptError(f"Ghostscript does not run (gs --version {_exit_reason(code, limits, seconds)})")
    return text


def page_for(width_pt: float, height_pt: float, resolution: float, *, eps_crop: bool, max_pixels: int) -> Page:
    """The device page for a ``width_pt``×``height_pt`` point page at ``resolution`` ppi, within ``max_pixels``."""
    if not (math.isfinite(width_pt) and math.isfinite(height_pt) and width_pt > 0 and height_pt > 0):
        raise GhostscriptError(f"the page size {width_pt:g}×{height_pt:g} pt is not usable")
    width = max(1, round(width_pt * resolution / 72.0))
    height = max(1, round(height_pt * resolution / 72.0))
    if width * height > max_pixels:
        raise PageTooLargeError(
            f"the {width_pt:g}×{height_pt:g} pt page would be {width}×{height} = {width * height} pixels at "
            f"{resolution:g} ppi, more than the limit of {max_pixels}; Ghostscript was not started")
    return Page(width, height, resolution, eps_crop)


def render(gs: str, postscript: str, workdir: str, page: Page, device: Device, limits: Limits) -> Rendering:
    """Render the first page of ``postscript`` (a file) into ``workdir`` with ``device``.

    ``workdir`` must be an empty directory that belongs to this file (band files and the log go
    there too). GhostscriptError (or GhostscriptTimeoutError) when no page comes out.
    """
    _stage(postscript, workdir)
    output = f"page-%d.{_EXTENSIONS[device]}"
    raw = page.width * page.height * DEVICE_BANDS[device]
    args = [gs, *_common(page, limits),
            # Anti-aliased text and line art, as any viewer shows them.
            "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4",
            "-dFirstPage=1", "-dLastPage=1",  # page 1 only; the rest is interpreted, not drawn
            f"-dMaxBitmap={limits.max_bitmap}", f"-dBufferSpace={16 * MiB}",
            f"-sDEVICE={device}", f"-sOutputFile={output}", "-f", INPUT_NAME]
    log = os.path.join(workdir, "gs.log")
    # Any one file (the page, a band file, the log) may hold the raw page twice over, plus headers.
    code, seconds = _run(args, workdir, log, limits, file_bytes=2 * raw + 16 * MiB)
    produced = os.path.join(workdir, output.replace("%d", "1"))
    if code != 0:
        raise _failure(code, limits, seconds, log)
    if not os.path.isfile(produced) or os.path.getsize(produced) == 0:
        raise GhostscriptError("Ghostscript finished without drawing a page (the file has no showpage, or draws "
                               "nothing Ghostscript can output)")
    return Rendering(produced, device, page.width, page.height, seconds)


def extract_text(gs: str, postscript: str, workdir: str, page: Page, limits: Limits) -> Text:
    """The text every page draws (``txtwrite``, UTF-8), at most ``limits.max_text_bytes`` of it."""
    _stage(postscript, workdir)
    args = [gs, *_common(page, limits), "-dTextFormat=3", "-sDEVICE=txtwrite", "-sOutputFile=text.txt",
            "-f", INPUT_NAME]
    log = os.path.join(workdir, "txtwrite.log")
    code, seconds = _run(args, workdir, log, limits, file_bytes=limits.max_text_bytes)
    path = os.path.join(workdir, "text.txt")
    written = os.path.getsize(path) if os.path.exists(path) else 0
    # SIGXFSZ with the text file at the limit: the text is longer than we keep; use what was
    # written. (The log can meet the limit too, with endless output: that is a failure.)
    truncated = code == -signal.SIGXFSZ and written >= limits.max_text_bytes - 64 * 1024
    if code != 0 and not truncated:
        raise _failure(code, limits, seconds, log)
    data = b""
    if written:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_text_bytes)
    return Text(data.decode("utf-8", "replace"), truncated, seconds)


def _common(page: Page, limits: Limits) -> list[str]:
    return ["-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dNOPROMPT",
            "-dFIXEDMEDIA", "-dFIXEDRESOLUTION", f"-g{page.width}x{page.height}", f"-r{page.resolution:g}",
            *(["-dEPSCrop"] if page.eps_crop else [])]


def _stage(postscript: str, workdir: str) -> None:
    """The input under a fixed relative name: gs's messages can only ever name ``input.ps``."""
    target = os.path.join(workdir, INPUT_NAME)
    if os.path.abspath(postscript) != os.path.abspath(target) and not os.path.exists(target):
        try:
            os.link(postscript, target)
        except OSError:
            shutil.copyfile(postscript, target)


def _run(args: list[str], workdir: str, log_path: str, limits: Limits, *, file_bytes: int) -> tuple[int, float]:
    """Run gs isolated: (exit status, negative when killed by that signal; seconds); timeouts raise."""
    # gs runs on hostile input: it must not be able to read this process's credentials.
    protect_process_memory()
    started = time.monotonic()
    with open(log_path, "wb") as log, open(os.devnull, "rb") as stdin:
        try:
            proc = subprocess.Popen(
                args, stdin=stdin, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                env={"TMPDIR": workdir, "LC_ALL": "C"}, close_fds=True, start_new_session=True,
                preexec_fn=_limiter(limits, file_bytes))  # noqa: PLW1509 - only setrlimit calls
        except OSError as exc:
            raise GhostscriptError(f"Ghostscript cannot be started ({exc.strerror or type(exc).__name__})") from exc
        try:
            code = proc.wait(timeout=limits.timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise GhostscriptTimeoutError(
                f"Ghostscript ran longer than {limits.timeout_seconds:g} s and was stopped") from None
        except BaseException:  # interrupted while waiting: never leave gs running
            _kill_group(proc)
            raise
    return code, time.monotonic() - started


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL gs and anything in its session; called before it is reaped, so its group id is still its own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _limiter(limits: Limits, file_bytes: int) -> Callable[[], None]:
    """The child's resource limits (computed here, in the parent: the child only calls setrlimit)."""
    wanted = [(resource.RLIMIT_AS, limits.memory_bytes),
              (resource.RLIMIT_CPU, limits.cpu_seconds),
              (resource.RLIMIT_FSIZE, max(MiB, file_bytes)),
              (resource.RLIMIT_NOFILE, limits.max_open_files),
              (resource.RLIMIT_CORE, 0)]
    settings = []
    for which, value in wanted:
        _, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        soft = value
        if which == resource.RLIMIT_CPU:  # SIGXCPU at the soft limit, SIGKILL at the hard one
            value = value + 1 if hard == resource.RLIM_INFINITY else min(value + 1, hard)
        settings.append((which, (soft, value)))

    def apply() -> None:
        for which, pair in settings:
            resource.setrlimit(which, pair)

    return apply


_ERROR = re.compile(rb"Error: /([A-Za-z]+) in ([-\w.%/]{1,40})")
_SIGNALS = {signal.SIGXCPU: "used more than {cpu} s of CPU time and was stopped",
            signal.SIGXFSZ: "tried to write a file larger than its limit and was stopped",
            signal.SIGKILL: "was killed (SIGKILL)",
            signal.SIGSEGV: "crashed (SIGSEGV; memory exhausted under the {memory} MiB limit?)",
            signal.SIGABRT: "aborted (SIGABRT; memory exhausted under the {memory} MiB limit?)"}


def _exit_reason(code: int, limits: Limits, seconds: float) -> str:
    """What happened to the process, e.g. "used more than 61 s of CPU time and was stopped"."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        template = _SIGNALS.get(-code, f"was killed by {name}")
        return template.format(cpu=limits.cpu_seconds, memory=limits.memory_bytes // MiB)
    return f"exited with code {code} after {seconds:.2f} s"


def _failure(code: int, limits: Limits, seconds: float, log_path: str) -> GhostscriptError:
    """A message that names the PostScript error (never the file's own text beyond its name)."""
    if code == -signal.SIGXCPU:
        return GhostscriptTimeoutError(f"Ghostscript {_exit_reason(code, limits, seconds)}")
    found = _last_error(log_path) if code > 0 else None
    if found:
        error, where = found
        what = error.decode()
        if what == "VMerror":
            what += f" (memory exhausted: the limit is {limits.memory_bytes // MiB} MiB)"
        elif what in ("invalidfileaccess", "invalidaccess"):
            what += " (refused by -dSAFER)"
        return GhostscriptError(f"Ghostscript stopped with the PostScript error /{what} in {where.decode()}")
    return GhostscriptError(f"Ghostscript {_exit_reason(code, limits, seconds)}")


def _last_error(path: str) -> tuple[bytes, bytes] | None:
    """The last ``Error: /name in operator`` line; gs prints its stacks after it, which can be long."""
    last, carry = None, b""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        while chunk := fh.read(MiB):
            data = carry + chunk
            for match in _ERROR.finditer(data):
                last = (match.group(1), match.group(2))
            carry = data[-128:]  # a line cut between two chunks is matched whole in the next
    return last


def _tail_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - LOG_TAIL_BYTES))
            return fh.read()
    except OSError:
        return b""


def _tail(path: str) -> str:
    return _tail_bytes(path).decode("utf-8", "replace")


@contextlib.contextmanager
def _scratch_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="openips-gs-") as workdir:
        yield workdir
