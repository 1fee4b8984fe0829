"""Lambda's 250 MB unzipped limit: the measuring script on a synthetic build, and on a real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import lambda_sizes  # noqa: E402

TEMPLATE = """\
Resources:
  Small:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: Small}
  Big:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Big
      Layers: [!Ref Heavy]
  Heavy:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: Heavy}
"""


def write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)  # sparse: the size counts, the disk does not fill


def test_code_and_layers_are_added_and_the_limit_enforced(tmp_path, capsys):
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    write(tmp_path / "Small" / "app.py", 1000)
    write(tmp_path / "Big" / "app.py", 100 * lambda_sizes.MB)
    write(tmp_path / "Heavy" / "python" / "lib.so", 151 * lambda_sizes.MB)
    os.symlink(tmp_path / "Heavy" / "python" / "lib.so", tmp_path / "Heavy" / "python" / "link.so")
    sizes = {s.function: s for s in lambda_sizes.measure(tmp_path)}
    assert sizes["Small"].total_bytes == 1000
    assert sizes["Big"].layers == {"Heavy": 151 * lambda_sizes.MB}  # the symlink is not counted twice
    assert lambda_sizes.main(["--build-dir", str(tmp_path)]) == 1
    assert "| Big | 100.0 | Heavy 151.0 MB | 251.0 **over** |" in capsys.readouterr().out
    assert lambda_sizes.main(["--build-dir", str(tmp_path), "--limit-mb", "260"]) == 0
    assert lambda_sizes.main(["--build-dir", str(tmp_path / "missing")]) == 2


@pytest.mark.slow
def test_every_function_of_the_real_build_fits(tmp_path):
    """``sam build`` (no Docker) of template.yaml, then the sizes: every function under 250 MB."""
    env = {**os.environ, "ARCH": "x86_64", "BUILD_DIR": str(tmp_path / "build")}
    built = subprocess.run(["bash", "scripts/sam-build.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    sizes = lambda_sizes.measure(tmp_path / "build")
    assert {s.function for s in sizes} >= {"ApiFunction", "ProcessFileFunction", "FinalizeJobFunction", "MediaFunction"}
    for size in sizes:
        assert size.total_bytes <= lambda_sizes.LIMIT_BYTES, (size.function, size.total_bytes)
    processing = next(s for s in sizes if s.function == "ProcessFileFunction")
    assert processing.layers and all(v > 5 * lambda_sizes.MB for v in processing.layers.values())
    # Precompiled, as the read-only code directory cannot cache bytecode: flags 1 = hash-based, unchecked.
    pyc = tmp_path / "build" / "ApiFunction" / "openips" / "handlers" / "__pycache__" / "api.cpython-312.pyc"
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 1
    media = next(s for s in sizes if s.function == "MediaFunction")  # PyAV: about 125 MB of it
    assert set(media.layers) == {"ImagingLayer", "MediaLayer"} and media.layers["MediaLayer"] > 50 * lambda_sizes.MB
