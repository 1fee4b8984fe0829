"""The real ``openips`` CLI over real HTTP, against the API handler in-process on moto."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from openips_cli import main as cli
from openips_cli.cli import follow, transfer
from openips_cli.inprocess import LambdaContext, http_api_event

pyvips = pytest.importorskip("pyvips")

OPTIONS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ForwardToHandler)
        # Powertools' resolver keeps the current event in module state: one request at a time, as on Lambda.
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.job_closed = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ForwardToHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into an HTTP API v2 event for ``openips.handlers.api``."""

    server: ApiServer

    def _forward(self) -> None:
        from openips.handlers import api

        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else None
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = dict(parse_qsl(split.query, keep_blank_values=True)) or None
        event = http_api_event(self.command, split.path, headers, query, body, self.client_address[0])
        with self.server.lock:
            self.server.requests.append((self.command, split.path))
            result = api.lambda_handler(event, LambdaContext())
        if split.path.endswith("/end") and result["statusCode"] == 202:
            self.server.job_closed.set()
        payload = (result.get("body") or "").encode()
        self.send_response(result["statusCode"])
        for name, value in (result.get("headers") or {}).items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = _forward

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server(stack, monkeypatch) -> Iterator[ApiServer]:
    from openips.observability import logger

    for var in ("OPENIPS_API_URL", "OPENIPS_API_KEY", "OPENIPS_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(follow, "POLL_SECONDS", 0.05)
    # Keep the handlers' JSON logs and EMF metrics out of the CLI's stdout.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    level = logger.log_level
    logger.setLevel("ERROR")
    # Started inside the stack fixture's mock_aws, so the server threads are mocked too.
    httpd = ApiServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)
    logger.setLevel(level)


@pytest.fixture
def workers(stack, server) -> Iterator[list[BaseException]]:
    """The processing and finalize 'Lambdas', draining the queues in the background once a job is closed."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        # Draining only after `end` keeps clear of a server race (files processed before the
        # close are no longer under incoming/, so the close under-counts the expected files).
        while not server.job_closed.wait(0.05):
            if stop.is_set():
                return
        while not stop.is_set():
            try:
                stack.drain()
            except BaseException as exc:  # noqa: BLE001 - reported by the fixture
                errors.append(exc)
                return
            stop.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield errors
    stop.set()
    thread.join(30)
    assert not errors, errors


def run(server: ApiServer, key: str, *args: str) -> int:
    return cli.main(["--api-url", server.url, "--api-key", key, *args])


def jpeg(width: int = 640, height: int = 480) -> bytes:
    image = pyvips.Image.xyz(width, height).extract_band(0).cast("uchar").bandjoin([128, 64])
    return image.copy(interpretation="srgb").jpegsave_buffer(Q=80)


@pytest.fixture
def batch(tmp_path) -> Path:
    root = tmp_path / "batch"
    (root / "shoes").mkdir(parents=True)
    (root / "shoes" / "red.jpg").write_bytes(jpeg(800, 600))
    (root / "logo.png").write_bytes((pyvips.Image.black(200, 200, bands=4) + [0, 200, 0, 128]).cast("uchar")
                                    .copy(interpretation="srgb").pngsave_buffer())
    good = jpeg()
    (root / "broken.jpg").write_bytes(good[: len(good) // 3])
    (root / ".hidden.jpg").write_bytes(good)
    return root


@pytest.fixture
def options(tmp_path) -> Path:
    path = tmp_path / "options.json"
    path.write_text(json.dumps(OPTIONS))
    return path


def test_a_batch_with_a_broken_file_exits_1_then_details_list_it_and_assets_download(
        stack, server, workers, batch, options, tmp_path, capsys):
    # When a folder with a broken file is uploaded and followed
    code = run(server, stack.key, "upload", str(batch), "--options", str(options), "--job-name", "cli",
               "--parallel", "3", "--json")

    # Then the exit code says a file failed and stdout is one JSON document with the counts
    out = capsys.readouterr()
    assert code == 1, out.err
    report = json.loads(out.out)
    log = report["jobLog"]
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == \
           ("EndUpload", 2, 1, 3)
    assert report["refused"] == []
    assert [row["logMessage"].split(" ")[0] for row in log["detailArray"]] == ["broken.jpg"]
    job = report["jobHandle"]
    assert ("POST", f"/v1/upload-jobs/{job}/end") in server.requests

    # and `jobs details --type UploadError` lists the broken file
    assert run(server, stack.key, "jobs", "details", job, "--type", "UploadError") == 0
    details = capsys.readouterr().out
    assert "broken.jpg" in details and "UploadError" in details and "UploadSuccess" not in details
    assert run(server, stack.key, "jobs", "details", job, "--type", "UploadError", "--locale", "ko-KR") == 0
    assert "broken.jpg 파일을 처리할 수 없습니다" in capsys.readouterr().out

    # and `assets download` writes the master, the pyramid TIFF and the thumbnail
    assert run(server, stack.key, "--json", "assets", "list", "--job", job) == 0
    assets = json.loads(capsys.readouterr().out)["assetArray"]
    red = next(a for a in assets if a["name"] == "red")
    target = tmp_path / "out"
    assert run(server, stack.key, "assets", "download", red["assetHandle"], "--to", str(target)) == 0
    assert (target / "red.jpg").read_bytes() == (batch / "shoes" / "red.jpg").read_bytes()
    tiff = pyvips.Image.new_from_file(str(target / "red.tif"))
    assert (tiff.width, tiff.height) == (800, 600)
    thumbnail = pyvips.Image.new_from_file(str(target / "red-thumbnail.jpg"))
    assert (thumbnail.width, thumbnail.height, thumbnail.get("vips-loader")) == (256, 192, "jpegload")
    assert sorted(p.name for p in target.iterdir()) == ["red-thumbnail.jpg", "red.jpg", "red.tif"]
    assert "red-thumbnail.jpg" in capsys.readouterr().out

    # and the human listings show it, the thumbnail as a URL to open (plain text: stdout is not a terminal)
    assert run(server, stack.key, "assets", "get", red["assetHandle"]) == 0
    shown = capsys.readouterr().out
    assert "shoes/" in shown
    [link] = [line.split()[1] for line in shown.splitlines() if line.startswith("thumbnail ")]
    assert link.startswith("http") and f"/{red['assetHandle']}/thumbnail" in link and "\x1b" not in shown
    assert run(server, stack.key, "jobs", "logs") == 0
    logs = capsys.readouterr().out.splitlines()
    assert logs[0].split()[:3] == ["JOB", "NAME", "LOG"] and job in logs[1] and "EndUpload" in logs[1]


def test_an_all_good_upload_exits_0_with_a_human_summary(stack, server, workers, options, tmp_path, capsys):
    (tmp_path / "one.jpg").write_bytes(jpeg())
    code = run(server, stack.key, "upload", str(tmp_path / "one.jpg"), "--options", str(options),
               "--dest-folder", "spring/")
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("opened job j-")
    assert "EndUpload: 1 files: 1 new" in lines[-1] and "0 errors" in lines[-1]
    assert out.err == ""  # stderr is not a TTY here: no progress bar
    job = lines[0].split()[2]
    listed = stack.call("GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"]
    assert [(a["folder"], a["name"]) for a in listed] == [("spring/", "one")]


def test_a_missing_options_file_exits_2_and_creates_no_job(stack, server, batch, tmp_path, capsys):
    code = run(server, stack.key, "upload", str(batch), "--options", str(tmp_path / "missing.json"))
    assert code == 2
    assert "options file" in capsys.readouterr().err
    assert server.requests == []
    assert stack.call("GET", "/v1/jobs/logs").body["jobLogArray"] == []


def test_a_file_over_the_job_limit_is_refused_and_the_job_still_closes(stack, server, workers, options, tmp_path,
                                                                       capsys):
    admin = stack.admin_key
    company = stack.call("POST", "/v1/admin/companies", {"name": "Tiny", "maxFileSize": 2000}, key=admin)
    user = stack.call("POST", "/v1/admin/users", {"companyHandle": company.body["companyHandle"],
                                                  "email": "t@tiny.example", "role": "IpsUser"}, key=admin)
    (tmp_path / "big.jpg").write_bytes(jpeg())
    code = run(server, user.body["apiKey"], "upload", str(tmp_path / "big.jpg"), "--options", str(options), "--json")
    out = capsys.readouterr()
    assert code == 1
    report = json.loads(out.out)
    assert [(r["file"], r["code"]) for r in report["refused"]] == [("big.jpg", "EntityTooLarge")]
    assert report["jobLog"]["totalFileCount"] == 0
    assert "refused: big.jpg: EntityTooLarge" in out.err


def test_the_form_is_renewed_near_its_expiry(stack, server, workers, batch, options, monkeypatch, capsys):
    monkeypatch.setattr(transfer, "RENEW_MARGIN", timedelta(days=1))
    code = run(server, stack.key, "-q", "upload", str(batch / "shoes"), "--options", str(options))
    assert code == 0, capsys.readouterr().err
    assert any(path.endswith("/upload-form") for _, path in server.requests)


def test_no_wait_prints_the_handle_and_a_second_run_continues_an_open_job(stack, server, workers, options,
                                                                           tmp_path, capsys):
    opened = stack.open_job("open")
    job = opened.body["jobHandle"]
    (tmp_path / "late.jpg").write_bytes(jpeg())
    assert run(server, stack.key, "upload", str(tmp_path / "late.jpg"), "--job", job, "--no-wait") == 0
    assert capsys.readouterr().out.split()[-1] == job
    assert run(server, stack.key, "upload", str(tmp_path / "late.jpg"), "--job", job) == 1
    assert "ipsApiFault 30001" in capsys.readouterr().err


def test_admin_commands_use_the_admin_key_of_local_json(stack, server, tmp_path, capsys):
    state = tmp_path / "state"
    state.mkdir()
    (state / "local.json").write_text(json.dumps({"apiUrl": server.url, "apiKey": stack.key,
                                                  "adminApiKey": stack.admin_key}))
    assert cli.main(["--state-dir", str(state), "admin", "create-company", "Rival",
                     "--overwrite-mode", "OverwriteAnyExt"]) == 0
    company = capsys.readouterr().out.strip()
    assert company.startswith("c-")
    assert cli.main(["admin", "create-user", "--company", company, "--email", "r@rival.example",
                     "--role", "IpsUser", "--state-dir", str(state)]) == 0
    out = capsys.readouterr()
    assert "shown only this once" in out.err
    key = out.out.split("api key")[1].split()[0]
    assert run(server, key, "jobs", "active") == 0
    assert capsys.readouterr().out.strip() == "no active jobs"
    # The company admin key of local.json may not create companies.
    assert cli.main(["--state-dir", str(state), "--api-key", stack.key, "admin", "create-company", "X"]) == 1
    assert capsys.readouterr().err.startswith("error: authorizationFault 200")


def test_admin_rotates_revokes_and_deletes_a_users_key(stack, server, tmp_path, capsys):
    state = tmp_path / "state"
    state.mkdir()
    (state / "local.json").write_text(json.dumps({"apiUrl": server.url, "apiKey": stack.key,
                                                  "adminApiKey": stack.admin_key}))
    admin = ["--state-dir", str(state), "admin"]
    assert cli.main([*admin, "create-user", "--company", stack.company, "--email", "k@acme.example",
                     "--role", "IpsUser"]) == 0
    out = capsys.readouterr().out
    user, first = out.split()[1], out.split("api key")[1].split()[0]
    assert run(server, first, "jobs", "active") == 0
    assert cli.main([*admin, "new-key", user]) == 0
    second = capsys.readouterr().out.split("api key")[1].split()[0]
    assert run(server, first, "jobs", "active") == 1  # the old key stopped working at once
    assert "authenticationFault" in capsys.readouterr().err
    assert run(server, second, "jobs", "active") == 0
    assert cli.main([*admin, "revoke-key", user]) == 0
    assert run(server, second, "jobs", "active") == 1
    assert cli.main([*admin, "new-key", user]) == 0
    third = capsys.readouterr().out.split("api key")[1].split()[0]
    assert run(server, third, "jobs", "active") == 0
    assert cli.main([*admin, "delete-user", user]) == 0
    assert run(server, third, "jobs", "active") == 1
    capsys.readouterr()
    assert cli.main([*admin, "delete-user", user]) == 1  # gone: 404
    assert "Unknown user handle" in capsys.readouterr().err


def test_faults_and_unreachable_apis_exit_1_with_a_clear_message(stack, server, capsys):
    assert run(server, stack.key, "jobs", "details", "j-doesnotexist") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ipsApiFault 30001: ")
    assert run(server, stack.key, "jobs", "stop", "j-doesnotexist") == 1
    assert capsys.readouterr().err.startswith("error: ")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.server_close()
    assert cli.main(["--api-url", closed, "--api-key", "k", "jobs", "delete", "j-1"]) == 1
    assert f"cannot reach {closed}/v1/jobs/j-1" in capsys.readouterr().err
