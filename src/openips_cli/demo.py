"""``make demo``: one upload job on the local stack, driven by the ``openips`` client.

Starts ``openips local up`` on free ports, uploads a generated, varied set of images
(RGB JPEG, PNG with alpha, CMYK JPEG, one truncated JPEG) with ``examples/options.json``,
follows the job live, prints its log and downloads every asset to ``demo-output/``. Run from a
terminal, it then keeps the stack up for the upload page (its URL and key are printed) until
Ctrl-C; otherwise it stops the stack.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path("demo-output")
STATE = Path(".openips-demo")


def _cli(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENIPS_STATE_DIR": str(STATE)}
    return subprocess.run([sys.executable, "-m", "openips_cli.main", *args], env=env, text=True,
                          capture_output=capture, check=False)


def _start_stack() -> subprocess.Popen:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir()
    log = open(STATE / "stack.log", "w")  # noqa: SIM115 - the stack's lifetime
    stack = subprocess.Popen([sys.executable, "-m", "openips_cli.main", "local", "up", "--port", "0",
                              "--state-dir", str(STATE)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (STATE / "local.json").exists():
        if stack.poll() is not None or time.monotonic() > deadline:
            stack.kill()
            raise SystemExit("the local stack did not start; see " + str(STATE / "stack.log"))
        time.sleep(0.2)
    return stack


def _rendition_url(info: dict, assets: list[dict]) -> str | None:
    """``/is/image/<company>/<asset>?wid=500&fmt=webp`` for the first published image, if any."""
    from urllib.parse import quote

    image = next((a for a in assets if a["type"] == "Image" and a["publishState"] == "MarkedForPublish"), None)
    if image is None:
        return None
    return f"{info['imageUrl']}{quote(image['name'], safe='')}?wid=500&fmt=webp"


def _someone_is_watching() -> bool:
    """A terminal on both ends (not CI, not a pipe), and OPENIPS_DEMO_SERVE not set to 0."""
    return sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("OPENIPS_DEMO_SERVE", "1") != "0"


def main() -> int:
    from openips_cli.samples import write_samples

    started = time.monotonic()
    shutil.rmtree(OUTPUT, ignore_errors=True)
    samples = OUTPUT / "uploads"
    write_samples(samples)
    print("== starting the local stack (moto + S3 front + API + workers)")
    stack = _start_stack()
    try:
        info = json.loads((STATE / "local.json").read_text())
        print(f"   API {info['apiUrl']}   S3 {info['s3Url']}")
        print(f"== openips upload {samples} --options examples/options.json")
        upload = _cli("upload", str(samples), "--options", str(ROOT / "examples" / "options.json"),
                      "--job-name", "demo", "--json", capture=True)
        if upload.stderr:
            print(upload.stderr, end="", file=sys.stderr)
        report = json.loads(upload.stdout)
        job = report["jobHandle"]
        print(f"== job {job} ended (the client exits {upload.returncode}: one sample is broken on purpose)")
        _cli("jobs", "details", job)
        listed = json.loads(_cli("--json", "assets", "list", "--job", job, capture=True).stdout)
        for asset in listed["assetArray"]:
            target = OUTPUT / asset["folder"] / asset["name"]
            _cli("-q", "assets", "download", asset["assetHandle"], "--to", str(target))
        (OUTPUT / "job-log.json").write_text(json.dumps(report["jobLog"], indent=2))
        rendition = _rendition_url(info, listed["assetArray"])
        if rendition:
            # Scene7 Image Serving URLs work on what the job published (docs/delivery.md).
            print(f"== a rendition of it, as Image Serving serves it: {rendition}")
        log = report["jobLog"]
        ok = (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == ("EndUpload", 3, 1)
        print(f"== {len(listed['assetArray'])} assets (master, pyramid TIFF, thumbnail) in {OUTPUT}/, "
              f"job log in {OUTPUT}/job-log.json — {time.monotonic() - started:.1f} s")
        if _someone_is_watching():
            # A person ran it: the stack stays up for the upload page until Ctrl-C (docs/web-ui.md).
            print(f"== the upload page: open {info['pageUrl']} and sign in with the API key {info['apiKey']}")
            print("   drop a folder there (demo-output/uploads works); Ctrl-C stops the stack")
            try:
                stack.wait()
            except KeyboardInterrupt:
                pass
        else:
            print("== the upload page: run `.venv/bin/openips local up`, open http://127.0.0.1:3000/ and sign in")
            print("   with the apiKey in .openips/local.json; drop a folder (demo-output/uploads works)")
        return 0 if ok else 1
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.kill()


if __name__ == "__main__":
    sys.exit(main())
