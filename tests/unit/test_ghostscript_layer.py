"""The opt-in Ghostscript layer: wired by ARN only, never built by default; its build pins its source; CI needs gs.

Static checks (no gs, no network): Ghostscript is AGPL-3.0, so the default deployment must not
contain it, and the layer a deployer builds must be traceable to one exact source archive.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from openips_cli.provision import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_the_layer_is_a_parameter_and_nothing_is_built_by_default(template):
    parameter = template["Parameters"]["GhostscriptLayerArn"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:lambda:eu-west-1:123456789012:layer:openips-gs:3")
    assert not re.fullmatch(parameter["AllowedPattern"], "arn:aws:lambda:eu-west-1:123456789012:function:x")
    assert template["Conditions"]["HasGhostscriptLayer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "GhostscriptLayerArn"}, ""]}]}
    layers = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert not any("ghostscript" in str(r["Properties"]["ContentUri"]) for r in layers)


def test_only_process_file_function_gets_it_and_only_when_set(template):
    optional = {"Fn::If": ["HasGhostscriptLayer", {"Ref": "GhostscriptLayerArn"}, {"Ref": "AWS::NoValue"}]}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        layers = resource["Properties"].get("Layers", [])
        assert (optional in layers) == (name == "ProcessFileFunction"), name


def test_the_layer_makefile_builds_gs_from_the_pinned_sdist():
    makefile = (ROOT / "layers" / "ghostscript" / "Makefile").read_text(encoding="utf-8")
    assert "build-GhostscriptLayer:" in makefile
    assert "--no-binary=:all: --no-deps" in makefile and "ghostscript-bin==$(GS_SDIST_VERSION)" in makefile
    assert re.search(r"^GS_SDIST_SHA256 := [0-9a-f]{64}$", makefile, re.MULTILINE)
    assert makefile.count("sha256sum --check") == 2  # after the download, and before unpacking
    assert '"$(ARTIFACTS_DIR)/bin/gs"' in makefile  # a layer is mounted at /opt: /opt/bin/gs
    assert "share/licenses/ghostscript" in makefile  # the licence and the source it came from travel with it
    for flag in ("--disable-cups", "--without-x", "--disable-fontconfig", "--without-libtiff"):
        assert flag in makefile
    root = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "ghostscript-layer:" in root and "layers/ghostscript/Makefile" in root


def test_ci_installs_ghostscript_and_requires_its_tests():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install, test = script.index("command -v gs"), script.index("make test")
    assert install < script.index("export OPENIPS_REQUIRE_GS=1") < test
    assert "--no-install-recommends ghostscript" in script


def test_lambda_sizes_skips_a_layer_given_by_arn(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import lambda_sizes

    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: Fn\n"
        "      Layers:\n        - !Ref Local\n        - !If [HasGs, !Ref GhostscriptLayerArn, !Ref AWS::NoValue]\n"
        "  Local:\n    Type: AWS::Serverless::LayerVersion\n    Properties: {ContentUri: Local}\n")
    for name, size in (("Fn/app.py", 10), ("Local/python/x.so", 20)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    [size] = lambda_sizes.measure(tmp_path)
    assert size.layers == {"Local": 20} and size.total_bytes == 30
