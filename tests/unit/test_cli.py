"""The ``openips`` client's pure parts: configuration, file walk, options, formatting, S3 errors, bodies."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import pytest

from openips_cli import config
from openips_cli.client import MultipartBody, UploadCancelled, parse_s3_error
from openips_cli.cli.errors import UsageError
from openips_cli.cli.files import collect_files, default_job_name, load_options
from openips_cli.cli.terminal import format_table, human_size, short_date
from openips_cli.main import main

LOCAL = {"apiUrl": "http://127.0.0.1:3000/", "apiKey": "user-key", "adminApiKey": "admin-key"}


def write_local(directory: Path, data: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "local.json").write_text(json.dumps(data or LOCAL))
    return directory


# ---- configuration -------------------------------------------------------------------------


def test_local_json_in_the_state_dir_flag_is_used_when_nothing_else_is_set(tmp_path):
    state = write_local(tmp_path / "state")
    found = config.resolve(state=state, env={})
    assert (found.api_url, found.api_key) == ("http://127.0.0.1:3000", "user-key")


def test_admin_uses_the_admin_key_of_local_json(tmp_path):
    state = write_local(tmp_path / "state")
    assert config.resolve(state=state, admin=True, env={}).api_key == "admin-key"


def test_state_dir_comes_from_the_environment_then_defaults_to_dot_openips(tmp_path, monkeypatch):
    write_local(tmp_path / "from-env")
    assert config.resolve(env={"OPENIPS_STATE_DIR": str(tmp_path / "from-env")}).api_key == "user-key"
    monkeypatch.chdir(tmp_path)
    write_local(tmp_path / ".openips", {**LOCAL, "apiKey": "default-dir-key"})
    assert config.resolve(env={}).api_key == "default-dir-key"
    assert config.state_dir("flag", {"OPENIPS_STATE_DIR": "env"}) == Path("flag")


def test_environment_beats_local_json_and_flags_beat_the_environment(tmp_path):
    state = write_local(tmp_path / "state")
    env = {"OPENIPS_API_URL": "https://api.example", "OPENIPS_API_KEY": "env-key"}
    assert config.resolve(state=state, env=env) == config.Config("https://api.example", "env-key",
                                                                 "flags/environment")
    flags = config.resolve("https://flag.example/", "flag-key", state=state, env=env)
    assert (flags.api_url, flags.api_key) == ("https://flag.example", "flag-key")
    mixed = config.resolve(api_key="flag-key", state=state, admin=True, env={})
    assert (mixed.api_url, mixed.api_key) == ("http://127.0.0.1:3000", "flag-key")


def test_nothing_configured_says_how_to_start_the_local_stack(tmp_path):
    with pytest.raises(config.ConfigError, match="openips local up.*OPENIPS_API_URL/OPENIPS_API_KEY"):
        config.resolve(state=tmp_path / "none", env={})


def test_a_url_without_a_key_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="no API key"):
        config.resolve(state=tmp_path, env={"OPENIPS_API_URL": "https://api.example"})


def test_a_broken_local_json_is_reported(tmp_path):
    (tmp_path / "local.json").write_text("{nope")
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.resolve(state=tmp_path, env={})


def test_cli_without_configuration_exits_2_with_the_hint(tmp_path, monkeypatch, capsys):
    for var in ("OPENIPS_API_URL", "OPENIPS_API_KEY", "OPENIPS_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["jobs", "active"]) == 2
    assert "openips local up" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.com"])
def test_the_local_stack_refuses_to_listen_beyond_loopback_without_allow_remote(host, monkeypatch, capsys):
    from openips_cli import local

    started = []
    monkeypatch.setattr(local, "run", lambda **kwargs: started.append(kwargs) or 0)
    assert main(["local", "up", "--host", host]) == 2
    assert started == [] and "not a loopback address" in capsys.readouterr().err
    assert main(["local", "up", "--host", host, "--allow-remote"]) == 0
    assert started[0]["host"] == host and "WARNING: listening on" in capsys.readouterr().err


# ---- the directory walk ----------------------------------------------------------------------


def test_walk_keeps_nested_paths_and_skips_hidden_files_and_folders(tmp_path):
    root = tmp_path / "batch"
    for rel in ("a.jpg", "shoes/red.jpg", "shoes/deep/blue.png", ".DS_Store", ".git/config", "shoes/.hidden.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    assert [rel for rel, _ in collect_files([root])] == ["a.jpg", "shoes/deep/blue.png", "shoes/red.jpg"]


def test_walk_does_not_follow_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    root = tmp_path / "batch"
    root.mkdir()
    (root / "real.jpg").write_bytes(b"x")
    os.symlink(outside, root / "linked-dir")
    os.symlink(outside / "secret.jpg", root / "linked.jpg")
    assert [rel for rel, _ in collect_files([root])] == ["real.jpg"]


def test_a_file_path_uploads_under_its_base_name(tmp_path):
    (tmp_path / "x" / "y").mkdir(parents=True)
    (tmp_path / "x" / "y" / "photo.jpg").write_bytes(b"x")
    assert collect_files([tmp_path / "x" / "y" / "photo.jpg"]) == [("photo.jpg", tmp_path / "x" / "y" / "photo.jpg")]


def test_missing_paths_and_clashing_names_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        collect_files([tmp_path / "nope"])
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="both be uploaded as same.jpg"):
        collect_files([tmp_path / "a", tmp_path / "b"])


def test_default_job_name_is_utc_stamped():
    assert default_job_name(datetime(2026, 11, 28, 9, 5, 7, tzinfo=timezone.utc)) == "upload-20261128-090507"


# ---- the options file ------------------------------------------------------------------------


def test_options_file_must_exist_parse_and_hold_an_object(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_options(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{overwrite: true}")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_options(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(UsageError, match="JSON object"):
        load_options(tmp_path / "list.json")
    (tmp_path / "ok.json").write_text('{"overwrite": true}')
    assert load_options(tmp_path / "ok.json") == {"overwrite": True}


def test_upload_with_a_bad_options_file_exits_2_before_any_request(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"x")
    # An unreachable API: exit 2 (not 1) proves nothing was sent.
    code = main(["--api-url", "http://127.0.0.1:9", "--api-key", "k", "upload", str(tmp_path / "a.jpg"),
                 "--options", str(tmp_path / "none.json")])
    assert code == 2
    assert "options file" in capsys.readouterr().err


# ---- formatting ------------------------------------------------------------------------------


def test_table_aligns_columns_and_right_aligns_numbers():
    text = format_table(["JOB", "FILES", "STATE"], [["j-1", 3, "Running"], ["j-long", 12, None]])
    assert text.splitlines() == [
        "JOB     FILES  STATE",
        "j-1         3  Running",
        "j-long     12",
    ]


def test_table_with_no_rows_is_its_header():
    assert format_table(["A", "B"], []) == "A  B"


def test_dates_are_shortened_and_odd_values_kept():
    assert short_date("2026-11-28T10:20:51.123456Z") == "2026-11-28 10:20:51"
    assert short_date("2026-11-28T10:20:51+00:00") == "2026-11-28 10:20:51"
    assert short_date(None) == ""
    assert short_date("soon") == "soon"


def test_sizes_are_in_powers_of_1024():
    assert [human_size(n) for n in (0, 512, 2048, 5 * 1024**2, 3 * 1024**4)] == \
           ["0 B", "512 B", "2.0 KB", "5.0 MB", "3.0 TB"]


# ---- S3 errors -------------------------------------------------------------------------------


def test_s3_xml_error_gives_code_and_message():
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
            b"<Message>Your proposed upload exceeds the maximum allowed size</Message>"
            b"<ProposedSize>5000</ProposedSize><RequestId>1</RequestId></Error>")
    assert parse_s3_error(body, 400) == ("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")


def test_s3_error_with_a_namespace_and_a_non_xml_body():
    namespaced = ('<Error xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                  "<Code>AccessDenied</Code><Message>no</Message></Error>")
    assert parse_s3_error(namespaced, 403) == ("AccessDenied", "no")
    assert parse_s3_error("<html>Bad Gateway</html", 502) == ("HTTP502", "<html>Bad Gateway</html")
    assert parse_s3_error(b"", 500) == ("HTTP500", "HTTP status 500")


# ---- the streamed multipart body ----------------------------------------------------------------


def test_multipart_body_streams_the_file_in_chunks_and_reports_progress(tmp_path):
    data = os.urandom(1_000_003)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    seen: list[int] = []
    fields = {"key": "incoming/c/j/shoes/big.bin", "policy": "cG9saWN5", "x-amz-signature": "abc"}
    body = MultipartBody(fields, 'we"ird.bin', path, seen.append)

    chunks = []
    while chunk := body.read(8192):
        assert len(chunk) <= 8192
        chunks.append(chunk)
    raw = b"".join(chunks)

    assert len(raw) == len(body)
    assert sum(seen) == len(data) and len(seen) > 1 and max(seen) <= 8192
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == [*fields, "file"]
    assert [p.get_content() for p in parts[:-1]] == list(fields.values())
    assert parts[-1].get_filename() == "we%22ird.bin"
    assert parts[-1].get_payload(decode=True) == data


def test_multipart_body_of_an_empty_file_and_reading_all_at_once(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    seen: list[int] = []
    body = MultipartBody({"key": "k"}, "empty.jpg", path, seen.append)
    raw = body.read()
    assert len(raw) == len(body) and raw.endswith(f"\r\n--{body.boundary}--\r\n".encode())
    assert sum(seen) == 0 and body.read(10) == b""


def test_multipart_body_stops_when_cancelled(tmp_path):
    import threading

    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100_000)
    cancel = threading.Event()
    body = MultipartBody({"key": "k"}, "a.bin", path, cancel=cancel)
    body.read(1000)
    cancel.set()
    with pytest.raises(UploadCancelled):
        body.read(1000)
    body.close()
