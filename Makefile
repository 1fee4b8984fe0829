# openips — the two commands the README opens with are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
# Lambda runs Python 3.12: use it when this machine has it (pyenv or PATH), else python3.
PYTHON ?= $(shell PYENV_VERSION=3.12.1 python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
                  python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
                  python3 -c 'import sys; print(sys.executable)')
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast demo bench load build sizes ghostscript-layer bootstrap-admin migrate-accounts clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt functions/requirements.txt layers/imaging/requirements.txt layers/media/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# One worker per core; a file's tests stay on one worker (module-scoped stacks are built once).
PARALLEL ?= -n auto --dist loadfile

test: venv
	PYTHONPATH=functions:src $(VENV)/bin/lint-imports
	$(PY) -m pytest $(PARALLEL) --durations=15 $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

demo: venv
	$(PY) -m openips_cli.demo

# Performance against bare libvips and Pillow, same run; prints a markdown table (never fails on timings).
bench: venv
	$(PY) -m bench.run $(BENCH_ARGS)

# The local stack under load and faults over real HTTP, with exact accounting of every job; a markdown report.
# Exits 1 when a job loses or double-counts a file or never ends (timings never fail it).
# LOAD_ARGS="--faults", "--scenarios large-40 --repeat 10", "--all --json load.json" (python -m bench.load -h).
load: venv
	$(PY) -m bench.load $(LOAD_ARGS)

build:
	bash scripts/sam-build.sh

# Unzipped size of every function with its layers, against Lambda's 250 MB (exit 1 when over).
sizes: build venv
	$(PY) scripts/lambda_sizes.py

# Opt-in Ghostscript layer (AGPL-3.0; built from source, about 5 minutes): build/ghostscript-layer-<arch>.zip,
# to publish and pass as GhostscriptLayerArn (docs/deploy.md#ghostscript-layer-opt-in). LAYER_ARCH=x86_64|arm64.
GS_LAYER := build/ghostscript-layer-$(or $(LAYER_ARCH),x86_64)
ghostscript-layer:
	$(MAKE) -f layers/ghostscript/Makefile build-GhostscriptLayer ARTIFACTS_DIR=$(CURDIR)/$(GS_LAYER)
	rm -f $(GS_LAYER).zip
	cd $(GS_LAYER) && zip -qr9 ../$(notdir $(GS_LAYER)).zip bin share
	@echo "$(GS_LAYER).zip: $$(du -h $(GS_LAYER).zip | cut -f1) zipped"

# Create the first IpsAdmin and print its API key once: make bootstrap-admin EMAIL=you@example.com [STACK=openips]
bootstrap-admin: venv
	$(PY) -m openips_cli.bootstrap --stack $(or $(STACK),openips) --email $(EMAIL)

# Once, after upgrading a stack deployed before AccountsTable existed (docs/deploy.md "Upgrading")
migrate-accounts: venv
	$(PY) -m openips_cli.migrate_accounts --stack $(or $(STACK),openips)

clean:
	rm -rf .aws-sam demo-output .openips
