"""``openips local mail``: the mails a running local stack (moto server) sent."""

from __future__ import annotations

import json

import boto3
import pytest

from openips_cli import local
from openips_cli.main import main


@pytest.fixture
def moto_server():
    from moto.server import ThreadedMotoServer

    port = local.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_sent_mail_reads_moto_servers_ses(moto_server, tmp_path, capsys):
    ses = boto3.client("ses", endpoint_url=moto_server, region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="openips@openips.local")
    for subject, to in (("first", "a@x.example"), ("두 번째", "b@x.example")):
        ses.send_email(Source="openips@openips.local", Destination={"ToAddresses": [to]},
                       Message={"Subject": {"Data": subject, "Charset": "UTF-8"},
                                "Body": {"Text": {"Data": f"body of {subject}", "Charset": "UTF-8"}}})
    mails = local.sent_mail(moto_server)
    assert [(m["subject"], m["destinations"]["ToAddresses"]) for m in mails] == [
        ("first", ["a@x.example"]), ("두 번째", ["b@x.example"])]

    (tmp_path / "local.json").write_text(json.dumps({"awsEndpointUrl": moto_server}))
    assert main(["--state-dir", str(tmp_path), "local", "mail", "--to", "b@x.example"]) == 0
    out = capsys.readouterr().out
    assert "Subject: 두 번째" in out and "body of 두 번째" in out and "first" not in out
    assert main(["--state-dir", str(tmp_path), "--json", "local", "mail", "--last", "1"]) == 0
    assert [m["subject"] for m in json.loads(capsys.readouterr().out)] == ["두 번째"]


def test_local_mail_without_a_running_stack(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "local", "mail"]) != 0
    assert "no local stack is running" in capsys.readouterr().err
