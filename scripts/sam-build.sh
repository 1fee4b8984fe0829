#!/usr/bin/env bash
# Build the openips SAM application without Docker.
#
#   bash scripts/sam-build.sh               # arm64 (the default)
#   ARCH=x86_64 bash scripts/sam-build.sh   # x86_64
#
# What it does:
#   1. creates .venv-sam/ with aws-sam-cli (pinned) if missing. SAM CLI lives in its own venv
#      because it pins boto3/pydantic versions that would downgrade the project's dev venv.
#   2. puts a python3.12 interpreter on PATH (sam build refuses to build a python3.12 function
#      without one), found on PATH, through pyenv, or under ~/.pyenv/versions.
#   3. runs `sam validate --lint` then `sam build` (no container, no credentials needed).
#   4. precompiles every module of the build (Lambda's code directory is read-only: no .pyc cache).
#
# The architecture reaches the template as the `Architecture` parameter (functions and the layer's
# CompatibleArchitectures) and reaches layers/imaging/Makefile as the LAYER_ARCH environment
# variable: SAM CLI runs `make` with this process's environment.
#
# Environment knobs: ARCH (arm64|x86_64), BUILD_DIR (.aws-sam/build), SAM_CLI_VERSION, SAM_VENV, PYTHON312 (path to an
# interpreter to use instead of searching), AWS_REGION (only used for validation; default us-east-1).
# Extra arguments are passed to `sam build` (e.g. --no-cached).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ARCH="${ARCH:-arm64}"
case "$ARCH" in
  arm64|aarch64) ARCH=arm64 ;;
  x86_64|amd64)  ARCH=x86_64 ;;
  *) echo "sam-build: ARCH must be arm64 or x86_64 (got '$ARCH')" >&2; exit 2 ;;
esac
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
SAM_VENV="${SAM_VENV:-$ROOT/.venv-sam}"
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
BUILD_DIR="${BUILD_DIR:-.aws-sam/build}"

export SAM_CLI_TELEMETRY=0
export LAYER_ARCH="$ARCH"

log() { printf 'sam-build: %s\n' "$*" >&2; }

# --- 1. find a real CPython 3.12 ------------------------------------------------------------
is_py312() {  # is "$1" a working CPython 3.12 interpreter?
  [ -n "${1:-}" ] && [ -x "$1" ] || return 1
  "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1
}

find_py312() {
  local cand v root
  if [ -n "${PYTHON312:-}" ] && is_py312 "$PYTHON312"; then echo "$PYTHON312"; return 0; fi
  # a python3.12 already on PATH (a pyenv shim counts only if it actually runs 3.12)
  if cand="$(command -v python3.12 2>/dev/null)"; then
    # resolve the real binary behind a pyenv shim so that PATH order cannot change it later
    if real="$("$cand" -c 'import sys; print(sys.executable)' 2>/dev/null)" && is_py312 "$real"; then
      echo "$real"; return 0
    fi
  fi
  # pyenv: any installed 3.12.x, newest first
  if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root 2>/dev/null || true)"
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -t. -k3,3nr); do
      cand="$root/versions/$v/bin/python3.12"
      if is_py312 "$cand"; then echo "$cand"; return 0; fi
    done
  fi
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
              /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/python/3.12*/bin/python3.12; do
    if is_py312 "$cand"; then echo "$cand"; return 0; fi
  done
  # a plain python3 that happens to be 3.12
  if cand="$(command -v python3 2>/dev/null)" && real="$("$cand" -c 'import sys; print(sys.executable)' 2>/dev/null)" \
     && is_py312 "$real"; then
    echo "$real"; return 0
  fi
  return 1
}

if ! PY312="$(find_py312)"; then
  log "no CPython 3.12 found (tried PATH, pyenv, ~/.pyenv/versions, /usr/bin). Install one, or set PYTHON312=/path/to/python3.12."
  exit 1
fi
log "python3.12 = $PY312"

# --- 2. the SAM CLI venv ---------------------------------------------------------------------
sam_ok() {
  [ -x "$SAM_VENV/bin/sam" ] || return 1
  "$SAM_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aws-sam-cli') != '$SAM_CLI_VERSION')" 2>/dev/null
}
if ! sam_ok; then
  log "installing aws-sam-cli==$SAM_CLI_VERSION into $SAM_VENV"
  [ -x "$SAM_VENV/bin/python" ] || "$PY312" -m venv "$SAM_VENV"
  "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi
SAM="$SAM_VENV/bin/sam"

# --- 3. python3.12 on PATH, and only that ----------------------------------------------------
# A private bin dir with a single python3.12 link: PATH order cannot then swap python3/pip for the
# rest of the build, and pyenv shims (which need PYENV_VERSION) are bypassed.
SHIM_DIR="$SAM_VENV/py312-bin"
mkdir -p "$SHIM_DIR"
ln -sfn "$PY312" "$SHIM_DIR/python3.12"
export PATH="$SHIM_DIR:$PATH"

# --- 4. validate + build ---------------------------------------------------------------------
log "sam $("$SAM" --version 2>/dev/null | awk '{print $NF}'), Architecture=$ARCH, LAYER_ARCH=$LAYER_ARCH"
"$SAM" validate --lint --region "$REGION" --template-file template.yaml
"$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR" \
  --parameter-overrides "Architecture=$ARCH" \
  "$@"
# --- 5. the layer must hold native code for $ARCH (a plain `sam build` would not pass LAYER_ARCH) --
SO="$(find "$BUILD_DIR/ImagingLayer/python" -maxdepth 1 -name '_libvips*.so' -print -quit 2>/dev/null || true)"
if [ -n "$SO" ]; then
  # ELF e_machine (little endian, offset 18): 0x3e = x86_64, 0xb7 = aarch64
  MACHINE="$("$PY312" -c 'import sys; d=open(sys.argv[1],"rb").read(20); print({0x3e:"x86_64",0xb7:"arm64"}.get(int.from_bytes(d[18:20],"little"),"unknown"))' "$SO")"
  if [ "$MACHINE" != "$ARCH" ]; then
    log "ERROR: ImagingLayer holds $MACHINE code but ARCH=$ARCH (stale cache? try: $0 --no-cached)"
    exit 1
  fi
  log "ImagingLayer: $(du -sh "$BUILD_DIR/ImagingLayer" | cut -f1) unzipped, native code for $MACHINE"
fi
# --- 6. bytecode for every module of the build -------------------------------------------------
# A function's code directory is read-only, so Python cannot cache what it compiles: without .pyc
# files every cold start compiles each module it imports again (SAM's pip workflow writes none).
# unchecked-hash .pyc files are used as they are, whatever mtimes the zip gives the sources.
"$PY312" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$BUILD_DIR" >/dev/null \
  || log "some files did not compile; they stay source only"
log "built into $BUILD_DIR (Architecture=$ARCH)"
if [ "$ARCH" != arm64 ]; then
  log "deploy with the same architecture: sam deploy --parameter-overrides Architecture=$ARCH"
fi
